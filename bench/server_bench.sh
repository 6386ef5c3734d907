#!/usr/bin/env bash
# The upload server against itself in --sync mode (blocking write/fsync in the handlers),
# side by side in one run: h2load POST / uploads, with GET /health sent alongside on its own
# connection every 5 ms. Prints one row per configuration: uploads/s, /health p50/p99 and the
# server's CPU time per upload (utime + stime, /proc/PID/stat).
#   bench/server_bench.sh --server PATH --dir DIR [--size BYTES] [--conns "1 16"]
#                         [--uploads N] [--durable-too]
set -euo pipefail

server=build/release/examples/upload_server/upload_server
dir=
size=$((4 << 20))
conns="1 16"
uploads=200
durabilities=("")
while (($#)); do
  case $1 in
    --server) server=$2; shift 2 ;;
    --dir) dir=$2; shift 2 ;;
    --size) size=$2; shift 2 ;;
    --conns) conns=$2; shift 2 ;;
    --uploads) uploads=$2; shift 2 ;;
    --durable-too) durabilities=("" --durable); shift ;;
    *) echo "server_bench.sh: unknown argument '$1'" >&2; exit 2 ;;
  esac
done
[[ -n $dir ]] || { echo "server_bench.sh: --dir DIR is required" >&2; exit 2; }

work=$(mktemp -d)
pid=
trap '[[ -n $pid ]] && kill -KILL $pid 2>/dev/null; rm -rf "$work" "$dir/bench-store"' EXIT
head -c "$size" /dev/urandom >"$work/body"
ticks=$(getconf CLK_TCK)

cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$pid/stat"; }

cat >"$work/health.py" <<'EOF'
# GET /health every 5 ms on one connection until the stop file appears; prints p50 p99 (ms).
import http.client, os, sys, time
port, stop = int(sys.argv[1]), sys.argv[2]
connection = http.client.HTTPConnection("127.0.0.1", port)
latencies = []
while not os.path.exists(stop):
    start = time.perf_counter()
    connection.request("GET", "/health")
    connection.getresponse().read()
    latencies.append(time.perf_counter() - start)
    time.sleep(0.005)
latencies.sort()
pick = lambda q: latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1000
print("%.2f %.2f %d" % (pick(0.50), pick(0.99), len(latencies)))
EOF

printf '%-8s %-9s %5s %10s %10s %10s %14s\n' mode durable conns uploads/s p50_ms p99_ms cpu_ms/upload
for durable in "${durabilities[@]}"; do
  for c in $conns; do
    for mode in sync library; do
      rm -rf "$dir/bench-store"
      mkdir -p "$dir/bench-store"
      flags=(--store "$dir/bench-store" --port 0 --max-body $((size + 1)) $durable)
      [[ $mode == sync ]] && flags+=(--sync)
      "$server" "${flags[@]}" >"$work/log" 2>&1 &
      pid=$!
      for _ in $(seq 100); do grep -qs "listening on port" "$work/log" && break; sleep 0.05; done
      port=$(sed -n 's/.*listening on port \([0-9]*\).*/\1/p' "$work/log")
      rm -f "$work/stop"
      python3 "$work/health.py" "$port" "$work/stop" >"$work/health" &
      prober=$!
      before=$(cpu_ticks)
      h2load --h1 -n "$uploads" -c "$c" -d "$work/body" "http://127.0.0.1:$port/" >"$work/h2load"
      after=$(cpu_ticks)
      touch "$work/stop"
      wait "$prober"
      kill -TERM "$pid"
      wait "$pid" || true
      pid=
      grep -q "$uploads succeeded" "$work/h2load" || { cat "$work/h2load" >&2; exit 1; }
      rate=$(sed -n 's/.*finished in [^,]*, \([0-9.]*\) req\/s.*/\1/p' "$work/h2load")
      read -r p50 p99 _ <"$work/health"
      cpu=$(awk -v t=$((after - before)) -v hz="$ticks" -v n="$uploads" \
        'BEGIN { printf "%.2f", t * 1000 / hz / n }')
      printf '%-8s %-9s %5s %10s %10s %10s %14s\n' "$mode" "${durable:-no}" "$c" "$rate" \
        "$p50" "$p99" "$cpu"
    done
  done
done
