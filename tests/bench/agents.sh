#!/usr/bin/env bash
# Agents benchmarks (not part of `cargo test`): what a distributed run costs its coordinator.
#
#   tests/bench/agents.sh throughput   # local:2 vs one process, same target and rate: achieved rate, CPU
#   tests/bench/agents.sh memory       # coordinator RSS over LONG (default 600 s) with local:3
#   tests/bench/agents.sh all
#
# The target is the demo gateway with one instant route (`demo-target`).
# The coordinator's own CPU (utime+stime of its process, children excluded)
# and RSS are sampled from /proc every second while it runs; "per agent per
# second" divides its CPU by agents x run seconds. On a 2-core machine the
# agents, the coordinator and the target share the cores: the throughput
# figures are of this machine, the coordinator's cost is the point.
# Needs: a release build (cargo build --release), python3.
set -euo pipefail
cd "$(dirname "$0")/../.."
BIN=${BIN:-target/release/rampdeck}
RATE=${RATE:-10000}
SECS=${SECS:-20}
LONG=${LONG:-600}
[ -x "$BIN" ] || { echo "build first: cargo build --release" >&2; exit 2; }
TMP=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$TMP"' EXIT
TICK=$(getconf CLK_TCK)

start_target() {
  local cfg='{"routes":[{"prefix":"/","latency":"None","error_rate":0.0,"error_status":503,"stall":null,"body_bytes":16}]}'
  coproc TARGET { exec "$BIN" demo-target --config-json "$cfg"; }
  read -r line <&"${TARGET[0]}"
  GATEWAY=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["gateway"])' "$line")
  URL="http://$GATEWAY/"
}

# Runs "$@" in the background, samples its own CPU (s) and RSS (KiB) every
# second into $TMP/samples until it exits; prints the last CPU reading.
sampled() {
  "$@" > "$TMP/out" 2> "$TMP/err" &
  local pid=$! cpu=0
  : > "$TMP/samples"
  local t0=$SECONDS
  while kill -0 "$pid" 2>/dev/null; do
    if [ -r "/proc/$pid/stat" ]; then
      local stat rss
      stat=$(cut -d')' -f2- "/proc/$pid/stat" 2>/dev/null || true)
      rss=$(awk '/VmRSS/ {print $2}' "/proc/$pid/status" 2>/dev/null || echo 0)
      if [ -n "$stat" ]; then
        cpu=$(echo "$stat" | awk -v t="$TICK" '{print ($12 + $13) / t}')
        echo "$((SECONDS - t0)) $cpu $rss" >> "$TMP/samples"
      fi
    fi
    sleep 1
  done
  wait "$pid" || true
  echo "$cpu"
}

field() { python3 -c 'import json,sys; v=json.load(open(sys.argv[1])); print(v.get(sys.argv[2]))' "$1/summary.json" "$2"; }

throughput() {
  start_target
  echo "target $URL, $RATE req/s for ${SECS}s"
  local one agents
  one=$(sampled "$BIN" run "$URL" --rate "$RATE" --duration "${SECS}s" --headless --out "$TMP/one" --force)
  agents=$(sampled "$BIN" run "$URL" --rate "$RATE" --duration "${SECS}s" --agents local:2 --headless --out "$TMP/two" --force)
  printf "one process   achieved %8.1f/s  not sent %s  its CPU %.2f s\n" "$(field "$TMP/one" rps)" "$(field "$TMP/one" not_sent)" "$one"
  printf "local:2       achieved %8.1f/s  not sent %s  coordinator CPU %.2f s = %.4f s per agent per second\n" \
    "$(field "$TMP/two" rps)" "$(field "$TMP/two" not_sent)" "$agents" "$(python3 -c "print($agents / (2 * $SECS))")"
  kill "$TARGET_PID" 2>/dev/null || true
}

memory() {
  start_target
  echo "coordinator RSS with local:3 at 1,000 req/s for ${LONG}s (sampled every second)"
  sampled "$BIN" run "$URL" --rate 1000 --duration "${LONG}s" --agents local:3 --headless --out "$TMP/mem" --force > /dev/null
  python3 - "$TMP/samples" "$LONG" <<'PY'
import sys
rows = [tuple(float(x) for x in l.split()) for l in open(sys.argv[1]) if l.strip()]
long = float(sys.argv[2])
def at(t):
    return min(rows, key=lambda r: abs(r[0] - t))
for t in (10, long * 0.25, long * 0.5, long * 0.75, long - 2):
    s, cpu, rss = at(t)
    print(f"  t={s:6.0f}s  RSS {rss / 1024:7.1f} MiB  CPU so far {cpu:6.2f} s")
first, last = at(10), at(long - 2)
print(f"  growth from 10 s to the end: {(last[2] - first[2]) / 1024:+.1f} MiB")
PY
  kill "$TARGET_PID" 2>/dev/null || true
}

case "${1:-all}" in
  throughput) throughput ;;
  memory) memory ;;
  all) throughput; memory ;;
  *) echo "usage: $0 throughput|memory|all" >&2; exit 2 ;;
esac
