#!/usr/bin/env bash
# The probe against wrk, side by side in one run: the same local nginx, the
# same small static file, the same connection count and duration. Prints
# each tool's requests/s and p99, and perfsage's share of wrk's throughput.
#
#   bench/probe.sh                 # 64 connections, 10 s each
#   CONNECTIONS=16 DURATION=5 bench/probe.sh
#   PERFSAGE=/path/to/perfsage bench/probe.sh   # another build (default: the release one)
set -euo pipefail
cd "$(dirname "$0")/.."
connections=${CONNECTIONS:-64}
duration=${DURATION:-10}
perfsage=${PERFSAGE:-${CARGO_TARGET_DIR:-$PWD/target}/release/perfsage}
dir=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
mkdir -p "$dir/static"
head -c 512 /dev/zero | tr '\0' 'x' >"$dir/static/small.txt"
cat >"$dir/nginx.conf" <<CONF
daemon off;
worker_processes 1;
error_log $dir/error.log;
pid $dir/nginx.pid;
events { worker_connections 4096; }
http {
    access_log off;
    keepalive_requests 1000000;
    client_body_temp_path $dir/body; proxy_temp_path $dir/proxy; fastcgi_temp_path $dir/fastcgi;
    uwsgi_temp_path $dir/uwsgi; scgi_temp_path $dir/scgi;
    server { listen 127.0.0.1:$port; location /static/ { alias $dir/static/; } }
}
CONF
nginx -p "$dir" -e "$dir/error.log" -c "$dir/nginx.conf" &
nginx_pid=$!
trap 'kill "$nginx_pid" 2>/dev/null; wait "$nginx_pid" 2>/dev/null; rm -rf "$dir"' EXIT
for _ in $(seq 100); do (echo >/dev/tcp/127.0.0.1/$port) 2>/dev/null && break; sleep 0.05; done
url=http://127.0.0.1:$port/static/small.txt

# Each tool under /usr/bin/time: its CPU time (user + system) per request is
# steadier than requests/s when other work shares the cores.
wrk_out=$(/usr/bin/time -f "%U %S" -o "$dir/wrk.time" wrk -t 2 -c "$connections" -d "${duration}s" --latency "$url")
wrk_rps=$(awk '/Requests\/sec/ {print $2}' <<<"$wrk_out")
wrk_p99=$(awk '$1 == "99%" {print $2}' <<<"$wrk_out")
wrk_requests=$(awk '/requests in/ {print $1}' <<<"$wrk_out")
ps_json=$(/usr/bin/time -f "%U %S" -o "$dir/perfsage.time" \
    "$perfsage" probe "$url" -c "$connections" -d "${duration}s" --threads 2 --format json)
ps_rps=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["throughput_rps"])' <<<"$ps_json")
ps_p99=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["latency"]["p99_ms"])' <<<"$ps_json")
ps_requests=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["requests"])' <<<"$ps_json")
cpu_per_request() { awk -v n="$2" '{ printf "%.2f", ($1 + $2) * 1e6 / n }' "$1"; }
echo "connections=$connections duration=${duration}s url=$url load: $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-9s %12s %10s %16s\n' tool requests/s p99 "CPU µs/request"
printf '%-9s %12s %10s %16s\n' wrk "$wrk_rps" "$wrk_p99" "$(cpu_per_request "$dir/wrk.time" "$wrk_requests")"
printf '%-9s %12s %10s %16s\n' perfsage "$ps_rps" "${ps_p99}ms" "$(cpu_per_request "$dir/perfsage.time" "$ps_requests")"
python3 -c "print(f'perfsage / wrk = {float($ps_rps) / float($wrk_rps):.2f}')"
