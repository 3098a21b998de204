#!/usr/bin/env bash
# Report, compare (rebuilt summary) and replay-load memory over run length
# (not part of `cargo test`): a short real demo run's intervals repeated to a
# 5-minute (1,201 intervals) and a 1-hour (14,400) run log without a summary,
# so `report` and `compare` rebuild the summary from the intervals as they do
# for a killed run. Prints peak RSS and time of each.
#
#   tests/bench/reports.sh
#
# Needs: a release build (cargo build --release), python3.
set -euo pipefail
cd "$(dirname "$0")/../.."
BIN=${BIN:-target/release/rampdeck}
[ -x "$BIN" ] || { echo "build first: cargo build --release" >&2; exit 2; }
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
"$BIN" demo --headless --rate 200 --duration 8s --out "$TMP/short" >/dev/null 2>&1
for spec in 5m:1201 1h:14400; do
  name=${spec%%:*}; n=${spec##*:}
  python3 tests/bench/longlog.py "$TMP/short" "$TMP/$name" "$n" --no-summary
  size=$(du -m "$TMP/$name/run.jsonl" | cut -f1)
  for cmd in report compare; do
    args=("$TMP/$name"); [ "$cmd" = compare ] && args+=("$TMP/$name")
    /usr/bin/time -f "%M %e" -o "$TMP/time" "$BIN" "$cmd" "${args[@]}" >/dev/null 2>&1 || true
    read -r kb secs < "$TMP/time"
    printf '%-3s run (%5d intervals, %3d MB log)  %-8s peak RSS %6.1f MB  %6.2f s\n' \
      "$name" "$n" "$size" "$cmd" "$(awk -v k="$kb" 'BEGIN{print k/1024}')" "$secs"
  done
done
