#!/usr/bin/env bash
# Engine benchmarks (not part of `cargo test`): CPU cost per request beside wrk,
# open-loop rate accuracy, and memory over a long run.
#
#   tests/bench/engine.sh cpu        # CPU-s per 100k requests, closed loop, 50 conns, vs wrk -t1 -c50
#   tests/bench/engine.sh accuracy   # open loop at 50,000/s for 10 s: achieved rate
#   tests/bench/engine.sh rss        # RSS after 1 and 10 minutes at 20,000/s
#   tests/bench/engine.sh console    # console thread CPU at 10 fps (120x40); throughput console vs headless
#   tests/bench/engine.sh template   # CPU-s per 100k: a request with three placeholders vs the same fixed
#                                    # (TEMPLATE_RATE=30000: open loop at that rate instead)
#   tests/bench/engine.sh grpc       # CPU-s per 100k, closed loop, 50 streams on HTTP/2: gRPC unary vs GET
#                                    # (GRPC_RATE=20000: open loop at that rate instead)
#   tests/bench/engine.sh scaling    # requests per generator CPU-second, 1 vs 2 runtime threads, unpinned
#   tests/bench/engine.sh all
#
# The load generator is pinned to CPU 0 and the target (the demo gateway
# with one instant route) to CPU 1 with taskset, so each has one core.
# Needs: a release build (cargo build --release), wrk for `cpu` (and oha, if on
# PATH, is measured beside it: cargo install oha), python3.
set -euo pipefail
cd "$(dirname "$0")/../.."
BIN=${BIN:-target/release/rampdeck}
DUR=${DUR:-10s}   # in seconds, e.g. 10s
REPEAT=${REPEAT:-3}
[ -x "$BIN" ] || { echo "build first: cargo build --release" >&2; exit 2; }
TMP=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$TMP"' EXIT

start_target() {
  # One route, no added latency, a 16-byte body: the cheapest useful server.
  local cfg='{"routes":[{"prefix":"/","latency":"None","error_rate":0.0,"error_status":503,"stall":null,"body_bytes":16}]}'
  coproc TARGET { exec taskset -c 1 "$BIN" demo-target --config-json "$cfg"; }
  read -r line <&"${TARGET[0]}"
  GATEWAY=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["gateway"])' "$line")
  URL="http://$GATEWAY/"
}

# Prints "user+sys seconds" of a command run on CPU 0.
cpu_of() {
  /usr/bin/time -f "%U %S" -o "$TMP/time" taskset -c 0 "$@" > "$TMP/out" 2> "$TMP/err"
  awk '{print $1 + $2}' "$TMP/time"
}

median() { sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }

bench_cpu() {
  start_target
  echo "CPU seconds per 100k requests, closed loop, 50 connections, HTTP/1.1, $DUR, $REPEAT runs each (median):"
  : > "$TMP/rd"; : > "$TMP/wrk"; : > "$TMP/oha"; : > "$TMP/hy"
  # The same run through hyper (`[target] http1 = "hyper"`), the path the
  # lean one replaced on plain HTTP/1.1.
  printf '[target]\nurl = "%s"\nhttp1 = "hyper"\n[load]\nconcurrency = 50\nduration = "%s"\n' "$URL" "$DUR" > "$TMP/hyper.toml"
  for i in $(seq "$REPEAT"); do
    cpu=$(cpu_of "$BIN" run "$URL" --concurrency 50 --duration "$DUR" --headless --force --out "$TMP/o")
    req=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["requests"])' "$TMP/o/summary.json")
    echo "$cpu $req" | awk '{printf "%.4f\n", $1 / $2 * 100000}' >> "$TMP/rd"
    printf '  rampdeck run %d: %s CPU-s, %s requests\n' "$i" "$cpu" "$req"
    cpu=$(cpu_of "$BIN" run "$TMP/hyper.toml" --headless --force --out "$TMP/o")
    req=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["requests"])' "$TMP/o/summary.json")
    echo "$cpu $req" | awk '{printf "%.4f\n", $1 / $2 * 100000}' >> "$TMP/hy"
    printf '  (hyper)  run %d: %s CPU-s, %s requests\n' "$i" "$cpu" "$req"
    cpu=$(cpu_of wrk -t1 -c50 -d"$DUR" "$URL")
    req=$(awk '/requests in/ {print $1}' "$TMP/out")
    echo "$cpu $req" | awk '{printf "%.4f\n", $1 / $2 * 100000}' >> "$TMP/wrk"
    printf '  wrk      run %d: %s CPU-s, %s requests\n' "$i" "$cpu" "$req"
    if command -v oha > /dev/null; then
      cpu=$(cpu_of oha -z "$DUR" -c 50 --no-tui --output-format json "$URL")
      req=$(python3 -c 'import json,sys; print(sum(json.load(open(sys.argv[1]))["statusCodeDistribution"].values()))' "$TMP/out")
      echo "$cpu $req" | awk '{printf "%.4f\n", $1 / $2 * 100000}' >> "$TMP/oha"
      printf '  oha      run %d: %s CPU-s, %s requests\n' "$i" "$cpu" "$req"
    fi
  done
  if [ -s "$TMP/oha" ]; then printf 'oha %.3f CPU-s per 100k\n' "$(median < "$TMP/oha")"; fi
  printf 'rampdeck through hyper %.3f CPU-s per 100k\n' "$(median < "$TMP/hy")"
  rd=$(median < "$TMP/rd"); wk=$(median < "$TMP/wrk")
  printf 'rampdeck %.3f  wrk %.3f  CPU-s per 100k  (rampdeck/wrk = %.2f)\n' "$rd" "$wk" "$(echo "$rd $wk" | awk '{print $1/$2}')"
}

bench_template() {
  start_target
  # TEMPLATE_RATE=N: open loop at N/s instead, so both kinds get the same
  # batching per wakeup and the kernel's share stays comparable.
  local load
  if [ -n "${TEMPLATE_RATE:-}" ]; then
    echo "CPU seconds per 100k requests, open loop at $TEMPLATE_RATE/s, $DUR, $REPEAT runs each (median): fixed vs three placeholders"
    load="[load]\nrate = $TEMPLATE_RATE\nduration = \"$DUR\"\nmax_connections = 64"
  else
    echo "CPU seconds per 100k requests, closed loop, 50 connections, $DUR, $REPEAT runs each (median): fixed vs three placeholders"
    load="[load]\nmode = \"closed\"\n[[load.stages]]\nkind = \"hold\"\ntarget = 50\nduration = \"$DUR\""
  fi
  printf "[target]\nurl = \"$URL\"\n$load\n[[request]]\npath = \"/item/7?r=42\"\nheaders = { x-id = \"6f1c8a52-6a39-4c43-9b1e-2f1e0c7d9a11\" }\n" > "$TMP/fixed.toml"
  printf "[target]\nurl = \"$URL\"\n$load\n[[request]]\npath = \"/item/{{seq}}?r={{rand_int(1, 100)}}\"\nheaders = { x-id = \"{{uuid}}\" }\n" > "$TMP/tpl.toml"
  : > "$TMP/fixed"; : > "$TMP/tpl"; : > "$TMP/fixed_user"; : > "$TMP/tpl_user"; : > "$TMP/pairs"
  for i in $(seq "$REPEAT"); do
    for kind in fixed tpl; do
      cpu=$(cpu_of "$BIN" run "$TMP/$kind.toml" --headless --force --out "$TMP/o")
      user=$(awk '{print $1}' "$TMP/time")
      req=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["requests"])' "$TMP/o/summary.json")
      echo "$cpu $req" | awk '{printf "%.4f\n", $1 / $2 * 100000}' >> "$TMP/$kind"
      echo "$user $req" | awk '{printf "%.4f\n", $1 / $2 * 100000}' >> "$TMP/${kind}_user"
      printf '  %-5s run %d: %s CPU-s (user %s), %s requests\n' "$kind" "$i" "$cpu" "$user" "$req"
    done
    # The pair just run, side by side: their noise is shared.
    paste <(tail -1 "$TMP/fixed") <(tail -1 "$TMP/tpl") | awk '{print $2 / $1}' >> "$TMP/pairs"
  done
  f=$(median < "$TMP/fixed"); t=$(median < "$TMP/tpl")
  fu=$(median < "$TMP/fixed_user"); tu=$(median < "$TMP/tpl_user"); p=$(median < "$TMP/pairs")
  printf 'fixed %.3f  templated %.3f  CPU-s per 100k  (templated/fixed = %.3f; median of the pairs %.3f)\n' "$f" "$t" "$(echo "$f $t" | awk '{print $2/$1}')" "$p"
  printf 'user space only: fixed %.3f  templated %.3f  (templated/fixed = %.3f)\n' "$fu" "$tu" "$(echo "$fu $tu" | awk '{print $2/$1}')"
}

bench_grpc() {
  start_target
  local ds; ds="$(pwd)/assets/grpc/echo.pb"
  # GRPC_RATE=N: open loop at N/s for both, so the target's own cost
  # (gRPC answers cost the demo more) does not change the batching.
  local load
  if [ -n "${GRPC_RATE:-}" ]; then
    echo "CPU seconds per 100k requests, open loop at $GRPC_RATE/s on HTTP/2, $DUR, $REPEAT runs each (median): gRPC unary Say vs GET"
    load="[load]\nrate = $GRPC_RATE\nduration = \"$DUR\"\nmax_connections = 64"
  else
    echo "CPU seconds per 100k requests, closed loop, 50 streams on HTTP/2, $DUR, $REPEAT runs each (median): gRPC unary Say vs GET"
    load="[load]\nmode = \"closed\"\n[[load.stages]]\nkind = \"hold\"\ntarget = 50\nduration = \"$DUR\""
  fi
  printf "[target]\nurl = \"$URL\"\nhttp2 = true\n$load\n[[request]]\npath = \"/\"\n" > "$TMP/get.toml"
  printf "[target]\nurl = \"$URL\"\n$load\n[[request]]\nkind = \"grpc\"\nservice = \"rampdeck.demo.Echo\"\nmethod = \"Say\"\ndescriptor_set = \"$ds\"\nmessage = '{\"text\": \"hello\", \"seq\": 7}'\n" > "$TMP/grpc.toml"
  : > "$TMP/get"; : > "$TMP/grpc"; : > "$TMP/pairs"
  for i in $(seq "$REPEAT"); do
    for kind in get grpc; do
      cpu=$(cpu_of "$BIN" run "$TMP/$kind.toml" --headless --force --out "$TMP/o")
      read -r req ok < <(python3 -c 'import json,sys; s=json.load(open(sys.argv[1])); print(s["requests"], s["ok"])' "$TMP/o/summary.json")
      echo "$cpu $req" | awk '{printf "%.4f\n", $1 / $2 * 100000}' >> "$TMP/$kind"
      printf '  %-4s run %d: %s CPU-s, %s requests (%s ok)\n' "$kind" "$i" "$cpu" "$req" "$ok"
    done
    paste <(tail -1 "$TMP/get") <(tail -1 "$TMP/grpc") | awk '{print $2 / $1}' >> "$TMP/pairs"
  done
  g=$(median < "$TMP/get"); r=$(median < "$TMP/grpc"); p=$(median < "$TMP/pairs")
  printf 'HTTP/2 GET %.3f  gRPC unary %.3f  CPU-s per 100k  (grpc/get = %.3f; median of the pairs %.3f)\n' "$g" "$r" "$(echo "$g $r" | awk '{print $2/$1}')" "$p"
}

bench_accuracy() {
  start_target
  echo "Open loop at 50,000/s for $DUR:"
  "$BIN" run "$URL" --rate 50000 --duration "$DUR" --headless --force --out "$TMP/o" > /dev/null 2> "$TMP/err" || { cat "$TMP/err"; exit 1; }
  python3 - "$TMP/o/summary.json" "${DUR%s}" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
want = 50000 * float(sys.argv[2])
print(f'  sent {s["sent"]} (asked {want:.0f}): {100 * (s["sent"] - want) / want:+.3f}%;'
      f' completed {s["requests"]} = {s["rps"]:.1f}/s; not sent {s["not_sent"]}')
print(f'  p50 corrected {s["latency_ms"]["p50"]:.3f} ms vs service {s["service_time_ms"]["p50"]:.3f} ms;'
      f' p99 {s["latency_ms"]["p99"]:.3f} vs {s["service_time_ms"]["p99"]:.3f} ms')
PY
}

rss_kb() { awk '/VmRSS/ {print $2}' "/proc/$1/status"; }

bench_rss() {
  start_target
  local minutes=${RSS_MINUTES:-10}
  echo "RSS at 20,000/s (open loop), after 1 and $minutes minutes:"
  "$BIN" run "$URL" --rate 20000 --duration "${minutes}m" --headless > /dev/null 2> "$TMP/err" &
  local pid=$!
  sleep 60; local one; one=$(rss_kb "$pid")
  sleep $(( minutes * 60 - 62 )); local end; end=$(rss_kb "$pid")
  wait "$pid"
  printf '  1 min: %d KiB   %d min: %d KiB   growth: %+d KiB\n' "$one" "$minutes" "$end" $(( end - one ))
}

# CPU seconds (user+sys) of one named thread of a process.
thread_cpu() {
  local pid=$1 name=$2 t
  for t in /proc/"$pid"/task/*; do
    if [ "$(cat "$t/comm" 2>/dev/null)" = "$name" ]; then
      awk -v hz="$(getconf CLK_TCK)" '{ sub(/^.*\) /, ""); print ($12 + $13) / hz }' "$t/stat"
      return
    fi
  done
  echo 0
}

bench_console() {
  command -v tmux > /dev/null || { echo "console bench needs tmux" >&2; exit 2; }
  start_target
  local s=rampdeck-bench-$$
  echo "Console at 10 fps in a 120x40 tmux pane, open loop 400 req/s:"
  tmux new-session -d -s "$s" -x 120 -y 40 "taskset -c 0 $BIN run $URL --rate 400 --duration 40s --fps 10"
  sleep 10
  local pid; pid=$(pgrep -f "^$BIN run $URL --rate 400" | head -1)
  local c1; c1=$(thread_cpu "$pid" console)
  sleep 20
  local c2; c2=$(thread_cpu "$pid" console)
  tmux kill-session -t "$s" 2>/dev/null || true
  echo "$c1 $c2" | awk '{printf "  console thread: %.3f CPU-s over 20 s = %.2f%% of a core\n", $2 - $1, ($2 - $1) / 20 * 100}'

  local secs=${DUR%s}
  echo "Closed loop, 50 connections, ${secs}s on CPU 0, console open vs headless ($REPEAT runs each, alternating):"
  : > "$TMP/head"; : > "$TMP/cons"
  for i in $(seq "$REPEAT"); do
    taskset -c 0 "$BIN" run "$URL" --concurrency 50 --duration "$DUR" --headless --force --out "$TMP/h" > /dev/null 2>&1
    python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["rps"])' "$TMP/h/summary.json" >> "$TMP/head"
    rm -rf "$TMP/c"
    tmux new-session -d -s "$s" -x 120 -y 40 "taskset -c 0 $BIN run $URL --concurrency 50 --duration $DUR --force --out $TMP/c"
    # Once the run has finished, one q quits the console.
    sleep $(( secs + 3 ))
    while tmux has-session -t "$s" 2>/dev/null; do tmux send-keys -t "$s" q; sleep 1; done
    python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["rps"])' "$TMP/c/summary.json" >> "$TMP/cons"
    printf '  run %d: headless %.0f req/s, console %.0f req/s\n' "$i" "$(tail -1 "$TMP/head")" "$(tail -1 "$TMP/cons")"
  done
  local h c; h=$(median < "$TMP/head"); c=$(median < "$TMP/cons")
  printf 'median headless %.0f req/s, console %.0f req/s: console/headless = %.3f\n' "$h" "$c" "$(echo "$c $h" | awk '{print $1/$2}')"
}

# Throughput per generator CPU-second with 1 and 2 runtime threads
# (TOKIO_WORKER_THREADS), the generator unpinned and the target on CPU 1:
# how the engine uses a second core.
bench_scaling() {
  start_target
  echo "closed loop, 200 connections, $DUR, unpinned generator, $REPEAT runs each (median):"
  : > "$TMP/t1"; : > "$TMP/t2"
  for i in $(seq "$REPEAT"); do
    for t in 1 2; do
      /usr/bin/time -f "%U %S" -o "$TMP/time" env TOKIO_WORKER_THREADS=$t "$BIN" run "$URL" --concurrency 200 --duration "$DUR" --headless --force --out "$TMP/o" > /dev/null 2>&1
      cpu=$(awk '{print $1 + $2}' "$TMP/time")
      req=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["requests"])' "$TMP/o/summary.json")
      rps=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["rps"])' "$TMP/o/summary.json")
      echo "$cpu $req" | awk '{printf "%.0f\n", $2 / $1}' >> "$TMP/t$t"
      printf '  %d thread(s) run %d: %s req/s, %s CPU-s, %s requests per CPU-s\n' "$t" "$i" "$rps" "$cpu" "$(tail -1 "$TMP/t$t")"
    done
  done
  printf '1 thread %s  2 threads %s  requests per generator CPU-second\n' "$(median < "$TMP/t1")" "$(median < "$TMP/t2")"
}

case "${1:-all}" in
  cpu) bench_cpu ;;
  accuracy) bench_accuracy ;;
  rss) bench_rss ;;
  console) bench_console ;;
  template) bench_template ;;
  grpc) bench_grpc ;;
  scaling) bench_scaling ;;
  all) bench_cpu; bench_accuracy; bench_console; bench_rss ;;
  *) echo "usage: $0 cpu|accuracy|rss|console|template|grpc|scaling|all" >&2; exit 2 ;;
esac
