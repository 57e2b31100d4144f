#!/usr/bin/env bash
# Slow-log digest, side by side in one run: `cat` (reading the file from the
# page cache, the physical limit), `perfsage digest` and `pt-query-digest`
# (Percona Toolkit) on the same generated MariaDB slow log. Prints seconds,
# MB/s, queries/s, peak RSS and the ratio to pt-query-digest, then both tools'
# top five classes by total time with their counts, and whether they agree.
# perfsage and cat are timed by hyperfine, the median of RUNS runs (default
# 10); pt-query-digest (seconds long) runs once.
#
#   bench/digest.sh                 # 200,000 queries
#   QUERIES=1000000 bench/digest.sh
#   PERFSAGE=/path/to/perfsage GENERATOR=/path/to/gen_slow_log BUILD=0 bench/digest.sh
set -euo pipefail
cd "$(dirname "$0")/.."
queries=${QUERIES:-200000}
target=${CARGO_TARGET_DIR:-$PWD/target}
[ "${BUILD:-1}" = 0 ] || cargo build --release -q -p perfsage --bin perfsage --example gen_slow_log
perfsage=${PERFSAGE:-$target/release/perfsage}
generator=${GENERATOR:-$target/release/examples/gen_slow_log}
mkdir -p target/bench
log=target/bench/slow-$queries.log
[ -s "$log" ] || "$generator" "$queries" >"$log"
bytes=$(stat -c %s "$log")

for tool in pt-query-digest:percona-toolkit hyperfine:hyperfine; do
    command -v "${tool%%:*}" >/dev/null || { echo "${tool%%:*} not found: apt-get install ${tool#*:}" >&2; exit 1; }
done

# Prints "seconds max_rss_kib" of one run of a command (its output to $1's file).
measure() {
    local out=$1; shift
    local start end
    start=$(date +%s%N)
    /usr/bin/time -f "%M" -o target/bench/time.txt "$@" >"$out" 2>target/bench/stderr.txt
    end=$(date +%s%N)
    echo "$(awk -v ns=$((end - start)) 'BEGIN { printf "%.4f", ns / 1e9 }') $(cat target/bench/time.txt)"
}

# Prints "seconds max_rss_kib" of a fast command: the median wall time of
# RUNS runs (10 by default) by hyperfine, which does not count its own process
# start as time(1) and date(1) around it would (a few ms of a 60 ms run), and
# the peak RSS of one more run.
measure_fast() {
    local out=$1; shift
    hyperfine -N --warmup 2 --runs "${RUNS:-10}" --export-json target/bench/hyperfine.json "$*" >/dev/null 2>&1
    local rss
    read -r _ rss < <(measure "$out" "$@")
    echo "$(python3 -c 'import json,sys; print("%.4f" % json.load(open(sys.argv[1]))["results"][0]["median"])' \
        target/bench/hyperfine.json) $rss"
}

cat "$log" >/dev/null # into the page cache for every tool alike
read -r cat_s cat_rss < <(measure_fast /dev/null cat "$log")
read -r ps_s ps_rss < <(measure_fast target/bench/perfsage-digest.json "$perfsage" digest "$log" --format json)
read -r pt_s pt_rss < <(measure target/bench/pt-query-digest.json pt-query-digest --output json --limit 100% "$log")

printf '%-16s %8s %9s %12s %9s %14s\n' tool seconds MB/s queries/s RSS_MiB "x pt-query-digest"
for row in "cat $cat_s $cat_rss" "perfsage $ps_s $ps_rss" "pt-query-digest $pt_s $pt_rss"; do
    read -r tool s rss <<<"$row"
    awk -v tool="$tool" -v s="$s" -v rss="$rss" -v bytes="$bytes" -v n="$queries" -v pt="$pt_s" 'BEGIN {
        s = (s < 0.0001 ? 0.0001 : s)
        printf "%-16s %8.3f %9.0f %12.0f %9.1f %14.1f\n", tool, s, bytes / 1e6 / s, n / s, rss / 1024, pt / s }'
done

# The top five classes of each, by total time, with their counts.
python3 - target/bench/perfsage-digest.json target/bench/pt-query-digest.json <<'PY'
import json, sys
ours = json.load(open(sys.argv[1]))
text = open(sys.argv[2]).read()
theirs = json.loads(text[text.index("{"):])["classes"]
theirs.sort(key=lambda c: -float(c["metrics"]["Query_time"]["sum"]))
print("\n%-5s %9s %9s  %s" % ("rank", "perfsage", "pt", "class (perfsage's fingerprint | pt-query-digest's)"))
agree = True
for rank in range(5):
    o, t = ours[rank], theirs[rank]
    same = o["count"] == t["query_count"]
    agree &= same
    print("%-5d %9d %9d  %s\n%26s| %s" % (rank + 1, o["count"], t["query_count"], o["fingerprint"][:90], "", t["fingerprint"][:90]))
print("\ntop five counts agree:", "yes" if agree else "NO")
PY
