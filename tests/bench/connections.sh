#!/usr/bin/env bash
# Connections-mode benchmark (not part of `cargo test`): rampdeck's memory per
# idle held connection. Holds N idle TCP connections to the demo's TCP echo
# (a separate demo-target process on CPU 1), samples rampdeck's RSS once all
# are held, for a small N and a large N; the difference over the count
# difference is the cost of one held connection.
#
#   tests/bench/connections.sh            # 100 vs 10,000 held
#   SMALL=100 LARGE=10000 HOLD=15 tests/bench/connections.sh
#
# Needs: a release build (cargo build --release), python3, and a hard
# RLIMIT_NOFILE above LARGE (rampdeck raises its soft limit itself).
set -euo pipefail
cd "$(dirname "$0")/../.."
BIN=${BIN:-target/release/rampdeck}
SMALL=${SMALL:-100}
LARGE=${LARGE:-10000}
HOLD=${HOLD:-15}
REPEAT=${REPEAT:-3}
[ -x "$BIN" ] || { echo "build first: cargo build --release" >&2; exit 2; }
TMP=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$TMP"' EXIT

cfg='{"routes":[{"prefix":"/","latency":"None","error_rate":0.0,"error_status":503,"stall":null,"body_bytes":16}]}'
coproc TARGET { exec taskset -c 1 "$BIN" demo-target --config-json "$cfg"; }
read -r line <&"${TARGET[0]}"
ECHO=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["echo"])' "$line")

rss_kb() { awk '/VmRSS/ {print $2}' "/proc/$1/status"; }

# RSS (KiB) of rampdeck holding $1 idle connections, once all are established.
held_rss() {
  local n=$1
  printf '[target]\nurl = "tcp://%s"\n[load]\nmode = "connections"\ntarget = %d\nrate = 5000\nduration = "%ds"\n' \
    "$ECHO" "$n" "$HOLD" > "$TMP/c.toml"
  taskset -c 0 "$BIN" run "$TMP/c.toml" --headless --force --out "$TMP/o" > "$TMP/out" 2>&1 &
  local pid=$!
  # All are open within n/5000 s; sample well after, mid-hold.
  sleep $(( HOLD * 2 / 3 ))
  local rss; rss=$(rss_kb "$pid")
  wait "$pid"
  local peak; peak=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["connections"]["peak"])' "$TMP/o/summary.json")
  [ "$peak" = "$n" ] || { echo "only $peak of $n connections were held" >&2; cat "$TMP/out" >&2; exit 1; }
  echo "$rss"
}

median() { sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }

echo "rampdeck RSS holding idle TCP connections ($SMALL vs $LARGE, $REPEAT runs each, alternating):"
: > "$TMP/per"
for i in $(seq "$REPEAT"); do
  small=$(held_rss "$SMALL")
  large=$(held_rss "$LARGE")
  per=$(echo "$small $large" | awk -v a="$SMALL" -v b="$LARGE" '{printf "%.0f", ($2 - $1) * 1024 / (b - a)}')
  echo "$per" >> "$TMP/per"
  printf '  run %d: %d held %d KiB, %d held %d KiB: %d bytes per held connection\n' "$i" "$SMALL" "$small" "$LARGE" "$large" "$per"
done
printf 'median: %d bytes (%.1f KiB) per idle held connection\n' "$(median < "$TMP/per")" "$(median < "$TMP/per" | awk '{print $1/1024}')"
