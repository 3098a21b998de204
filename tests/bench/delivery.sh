#!/usr/bin/env bash
# Delivery accounting's memory: events published at RATE/s through the demo
# relay to rampdeck's sink with a 30 s deadline, RSS of the rampdeck process
# after 1 minute and at the end (MINUTES, default 10). The correlation table
# is allocated at start, so the two should match.
#
#   tests/bench/delivery.sh              # 5,000/s for 10 minutes
#   RATE=5000 MINUTES=3 tests/bench/delivery.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
BIN=${BIN:-target/release/rampdeck}
RATE=${RATE:-5000}
MINUTES=${MINUTES:-10}
[ -x "$BIN" ] || { echo "build first: cargo build --release" >&2; exit 2; }
TMP=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$TMP"' EXIT
cat > "$TMP/p.toml" <<TOML
[target]
timeout = "2s"
[[request]]
method = "POST"
path = "/events"
headers = { "x-event-id" = "{{delivery.id}}", "x-relay-to" = "{{delivery.url}}" }
body = "{}"
[load]
rate = $RATE
duration = "${MINUTES}m"
max_connections = 256
[delivery]
deadline = "30s"
[demo]
[[demo.route]]
prefix = "/events"
relay = { delay = "20ms", loss = 0.001 }
TOML
rss_kb() { awk '/VmRSS/ {print $2}' "/proc/$1/status"; }
"$BIN" run "$TMP/p.toml" --headless --out "$TMP/o" > "$TMP/out" 2> "$TMP/err" &
pid=$!
# One sample a minute: the slope shows what grows (the run model keeps one
# interval record per 250 ms by design, about 0.3 MiB a minute).
one=0; end=0
for m in $(seq 1 $(( MINUTES - 1 ))); do
  sleep 60; end=$(rss_kb "$pid"); [ "$m" = 1 ] && one=$end
  echo "  minute $m: RSS $end KiB"
done
sleep 58; end=$(rss_kb "$pid"); echo "  minute $MINUTES (end): RSS $end KiB"
wait "$pid" || true
python3 - "$TMP/o/summary.json" "$one" "$end" "$MINUTES" "$RATE" <<'PY'
import json, sys
s = json.load(open(sys.argv[1])); d = s["delivery"]
one, end, minutes, rate = int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5]
print(f"delivery at {rate}/s, 30 s deadline, {minutes} min: RSS 1 min {one} KiB, end {end} KiB, growth {end - one:+d} KiB")
print(f"  published {d['published']} delivered {d['delivered']} lost {d['lost']} untracked {d['untracked']} "
      f"e2e p50 {d['latency_ms']['p50']:.1f} ms p99 {d['latency_ms']['p99']:.1f} ms")
PY
