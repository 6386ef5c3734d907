#!/usr/bin/env bash
# The upload server against its peers, side by side in one run: the same server storing
# bodies with blocking write/fsync in the handlers (sync) and through Boost.Asio's own
# io_uring files (asio-file, boost::asio::stream_file), and with --discard (bodies hashed and
# dropped: what HTTP alone costs). h2load POST / uploads, with GET /health sent alongside on
# its own connection every 5 ms. One row per mode and configuration: uploads/s and its ratio
# to sync and to asio-file, /health p50/p99 and the p99's ratio to asio-file's, the server's
# CPU time per upload (utime + stime of all its threads, io-wq workers included,
# /proc/PID/stat) and the part of it beyond --discard's: the storage's own CPU.
#   bench/server_bench.sh --server PATH --dir DIR [--sizes "65536 4194304"] [--conns "1 16"]
#                         [--seconds N] [--durable-too] [--threads-too]
# Each run sends uploads for --seconds (default 3; h2load -D) after a second of warm-up.
# --threads-too adds the library with --threads 2 (ratio to its one-thread row).
#   bench/server_bench.sh --server PATH --dir DIR --slow-clients N [--mode MODE]
# measures memory instead: N clients each send 300 KB of a 400 KB body in 30 KB steps
# (0.3 s apart) to the server with its default limits; prints its RSS at start, its peak
# RSS (VmHWM) and its RSS 3 s after the clients left.
set -euo pipefail

server=build/release/examples/upload_server/upload_server
dir=
sizes=$((4 << 20))
conns="1 16"
seconds=3
durabilities=("")
modes="discard sync asio-file library"
slow_clients=
while (($#)); do
  case $1 in
    --server) server=$2; shift 2 ;;
    --dir) dir=$2; shift 2 ;;
    --size | --sizes) sizes=$2; shift 2 ;;
    --conns) conns=$2; shift 2 ;;
    --seconds) seconds=$2; shift 2 ;;
    --durable-too) durabilities=("" --durable); shift ;;
    --threads-too) modes+=" library-2t"; shift ;;
    --slow-clients) slow_clients=$2; shift 2 ;;
    --mode) modes=$2; shift 2 ;;
    *) echo "server_bench.sh: unknown argument '$1'" >&2; exit 2 ;;
  esac
done
[[ -n $dir ]] || { echo "server_bench.sh: --dir DIR is required" >&2; exit 2; }

work=$(mktemp -d)
pid=
trap '[[ -n $pid ]] && kill -KILL $pid 2>/dev/null; rm -rf "$work" "$dir/bench-store"' EXIT
ticks=$(getconf CLK_TCK)

cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$pid/stat"; }

cat >"$work/health.py" <<'EOF'
# GET /health every 5 ms on one connection until the stop file appears; prints p50 p99 (ms).
# Creates the ready file once the first answer came.
import http.client, os, sys, time
port, ready, stop = int(sys.argv[1]), sys.argv[2], sys.argv[3]
connection = http.client.HTTPConnection("127.0.0.1", port)
latencies = []
while not os.path.exists(stop):
    start = time.perf_counter()
    connection.request("GET", "/health")
    connection.getresponse().read()
    latencies.append(time.perf_counter() - start)
    if len(latencies) == 1:
        open(ready, "w").close()
    time.sleep(0.005)
latencies.sort()
pick = lambda q: latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1000
print("%.2f %.2f %d" % (pick(0.50), pick(0.99), len(latencies)))
EOF

# start_server MODE [flags]: a fresh store; sets pid and port. MODE is a --storage name, or
# library-2t: the library with two shards.
start_server() {
  local mode=$1
  shift
  rm -rf "$dir/bench-store"
  mkdir -p "$dir/bench-store"
  local flags=(--store "$dir/bench-store" --port 0 "$@")
  case $mode in
    library-2t) flags+=(--storage library --threads 2) ;;
    *) flags+=(--storage "$mode") ;;
  esac
  rm -f "$work/log"  # the background start may truncate it only after the loop below reads
  "$server" "${flags[@]}" >"$work/log" 2>&1 &
  pid=$!
  for _ in $(seq 200); do grep -qs "listening on port" "$work/log" && break; sleep 0.05; done
  port=$(sed -n 's/.*listening on port \([0-9]*\).*/\1/p' "$work/log")
  [[ -n $port ]] || { echo "server_bench.sh: $mode did not start: $(cat "$work/log")" >&2; exit 1; }
}

stop_server() {
  kill -TERM "$pid"
  wait "$pid" || true
  pid=
}

if [[ -n $slow_clients ]]; then
  for mode in $modes; do
    start_server "$mode"
    python3 - "$port" "$pid" "$slow_clients" <<'EOF'
import socket, sys, time
port, pid, n = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
mib = lambda field: next(int(l.split()[1]) // 1024 for l in open("/proc/%d/status" % pid)
                         if l.startswith(field))
at_start = mib("VmRSS")
clients = []
for i in range(n):
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    s.sendall(b"PUT /slow-%d HTTP/1.1\r\nHost: x\r\nContent-Length: 400000\r\n\r\n" % i)
    clients.append(s)
for _ in range(10):
    for s in clients:
        s.sendall(b"s" * 30000)
    time.sleep(0.3)
time.sleep(1)
peak = mib("VmHWM")
for s in clients:
    s.close()
time.sleep(3)
print("clients %d rss_at_start_mib %d peak_rss_mib %d rss_after_mib %d"
      % (n, at_start, peak, mib("VmRSS")))
EOF
    stop_server
  done
  exit 0
fi

# run_one MODE DURABLE CONNS SIZE: prints "uploads/s p50 p99 cpu_ms_per_upload".
run_one() {
  local mode=$1 durable=$2 c=$3 size=$4
  start_server "$mode" --max-body $((size + 1)) $durable
  rm -f "$work/stop" "$work/ready"
  python3 "$work/health.py" "$port" "$work/ready" "$work/stop" >"$work/health" &
  local prober=$! before after
  for _ in $(seq 1000); do [[ -e $work/ready ]] && break; sleep 0.01; done
  [[ -e $work/ready ]] || { echo "server_bench.sh: /health did not answer ($mode)" >&2; exit 1; }
  h2load --h1 --warm-up-time=1 -D "$seconds" -c "$c" -d "$work/body-$size" \
    "http://127.0.0.1:$port/" >"$work/h2load" &
  local load=$!
  sleep 1  # the warm-up: CPU is counted over the measured part only
  before=$(cpu_ticks)
  wait "$load"
  after=$(cpu_ticks)
  touch "$work/stop"
  wait "$prober"
  stop_server
  grep -q " 0 failed, 0 errored, 0 timeout" "$work/h2load" || { cat "$work/h2load" >&2; exit 1; }
  local rate p50 p99 n
  rate=$(sed -n 's/.*finished in [^,]*, \([0-9.]*\) req\/s.*/\1/p' "$work/h2load")
  n=$(sed -n 's/^requests: .* \([0-9]*\) succeeded.*/\1/p' "$work/h2load")
  read -r p50 p99 _ <"$work/health"
  awk -v r="$rate" -v a="$p50" -v b="$p99" -v t=$((after - before)) -v hz="$ticks" -v n="$n" \
    'BEGIN { printf "%s %s %s %.3f\n", r, a, b, t * 1000 / hz / n }'
}

printf '%-10s %-8s %5s %8s %10s %8s %8s %8s %8s %8s %10s %12s\n' mode durable conns size \
  uploads/s vs_sync vs_asio p50_ms p99_ms p99/asio cpu_ms/upl storage_cpu
for size in $sizes; do
  head -c "$size" /dev/urandom >"$work/body-$size"
  for durable in "${durabilities[@]}"; do
    for c in $conns; do
      declare -A rate=() p99=() cpu=()
      for mode in $modes; do
        read -r rate[$mode] p50 p99[$mode] cpu[$mode] < <(run_one "$mode" "$durable" "$c" "$size")
        # Ratios: to sync and asio-file; library-2t's uploads/s to the one-thread library's.
        awk -v m="$mode" -v d="${durable:-no}" -v c="$c" -v s="$size" -v r="${rate[$mode]}" \
            -v rs="${rate[sync]:-}" -v ra="${rate[asio-file]:-}" -v r1="${rate[library]:-}" \
            -v a="$p50" -v b="${p99[$mode]}" -v ba="${p99[asio-file]:-}" \
            -v u="${cpu[$mode]}" -v ud="${cpu[discard]}" 'BEGIN {
          vs = (m == "discard" || m == "sync") ? "" : sprintf("%.2fx", r / rs);
          va = (m == "library") ? sprintf("%.2fx", r / ra) : (m == "library-2t") ? sprintf("%.2fx/1t", r / r1) : "";
          tail = (m == "library") ? sprintf("%.2f", b / ba) : "";
          storage = (m == "discard") ? "" : sprintf("%.3f", u - ud);
          printf "%-10s %-8s %5s %8s %10.1f %8s %8s %8s %8s %8s %10.3f %12s\n", m, d, c, s, r, vs,
                 va, a, b, tail, u, storage }'
      done
    done
  done
done
