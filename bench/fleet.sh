#!/usr/bin/env bash
# `perfsage fleet` end to end over synthetic node_exporter fleets backfilled
# into a real Prometheus: for each size, the generator writes 10 minutes of
# OpenMetrics (one sample every 30 s, ~40 series per instance, every tenth
# instance CPU-bound, short of memory or with a full disk in turn), promtool
# turns it into TSDB blocks, a Prometheus on a free port serves them, and
# `perfsage fleet` audits the whole fleet at the end of the window. Prints,
# per size: series, backfill seconds, perfsage wall seconds and peak RSS
# (`/usr/bin/time -f "%e %M"`), instances reported and findings per class.
#
#   bench/fleet.sh                  # 100 and 1000 instances
#   SIZES="100 1000 3000" bench/fleet.sh
set -euo pipefail
cd "$(dirname "$0")/.."
target=${CARGO_TARGET_DIR:-target}
# CARGO_ARGS: extra cargo arguments (e.g. --config overrides).
cargo build --release -q -p perfsage --bin perfsage --example gen_fleet ${CARGO_ARGS:-}
perfsage=$target/release/perfsage
work=$(mktemp -d)
prometheus_pid=
stop_prometheus() {
    if [ -n "$prometheus_pid" ]; then kill "$prometheus_pid" 2>/dev/null || true; wait "$prometheus_pid" 2>/dev/null || true; fi
    prometheus_pid=
}
trap 'stop_prometheus; rm -rf "$work"' EXIT
end=$(( $(date +%s) / 60 * 60 - 3600 ))
cache=$work/cache

printf '%-9s %8s %11s %10s %10s %9s %s\n' instances series backfill_s fleet_s RSS_MiB reported classes
for n in ${SIZES:-100 1000}; do
    om=$work/fleet-$n.om
    "$target/release/examples/gen_fleet" "$n" "$end" >"$om"
    backfill_start=$(date +%s.%N)
    promtool tsdb create-blocks-from openmetrics "$om" "$work/tsdb-$n" >/dev/null
    backfill_s=$(echo "$(date +%s.%N) - $backfill_start" | bc)
    rm -f "$om"
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    printf 'global:\n  scrape_interval: 15s\n' >"$work/prometheus.yml"
    prometheus --config.file="$work/prometheus.yml" --storage.tsdb.path="$work/tsdb-$n" \
        --storage.tsdb.retention.time=10y --web.listen-address="127.0.0.1:$port" >"$work/prometheus.log" 2>&1 &
    prometheus_pid=$!
    for _ in $(seq 300); do curl -sf "http://127.0.0.1:$port/-/ready" >/dev/null && break; sleep 0.1; done
    series=$(curl -sf "http://127.0.0.1:$port/api/v1/query" --data-urlencode "query=count({job=\"node\"})" \
        --data-urlencode "time=$end" | python3 -c 'import json,sys; print(json.load(sys.stdin)["data"]["result"][0]["value"][1])')
    # A warm compile cache, as a scheduled audit has.
    PERFSAGE_CACHE_DIR=$cache "$perfsage" plugin list >/dev/null
    set +e
    PERFSAGE_CACHE_DIR=$cache /usr/bin/time -f "%e %M" -o "$work/time.txt" "$perfsage" fleet \
        --prometheus "http://127.0.0.1:$port" --selector 'job="node"' --window 5m --at "$end" \
        --format json >"$work/report.json" 2>"$work/stderr.txt"
    status=$?
    set -e
    if [ "$status" -ne 0 ] && [ "$status" -ne 1 ]; then cat "$work/stderr.txt" >&2; exit 1; fi
    read -r fleet_s rss_kib <"$work/time.txt"
    summary=$(python3 -c '
import json, sys
r = json.load(open(sys.argv[1]))
print(len(r["instances"]), " ".join("%s=%d" % (c["rule"], c["instance_count"]) for c in r["classes"]))
' "$work/report.json")
    printf '%-9s %8s %11.2f %10s %10.1f %9s %s\n' "$n" "$series" "$backfill_s" "$fleet_s" \
        "$(echo "$rss_kib / 1024" | bc -l)" ${summary%% *} "${summary#* }"
    stop_prometheus
    rm -rf "$work/tsdb-$n"
done
