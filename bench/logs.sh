#!/usr/bin/env bash
# Access-log analysis, side by side in one run: `cat` (the physical limit:
# reading the file from the page cache), perfsage and goaccess, on the same
# generated 1M-line and 5M-line CRM logs. Prints one row per tool and log:
# seconds, MB/s, lines/s, peak RSS, and the ratio to cat and to goaccess.
#
#   bench/logs.sh            # both logs
#   LINES="1000000" bench/logs.sh
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -q -p perfsage --example gen_access_log
perfsage=target/release/perfsage
mkdir -p target/bench

# Prints "seconds max_rss_kib" of one command (output discarded).
measure() {
    /usr/bin/time -f "%e %M" -o target/bench/time.txt "$@" >/dev/null 2>target/bench/stderr.txt
    cat target/bench/time.txt
}

printf '%-9s %-9s %8s %9s %12s %9s %9s %12s\n' log tool seconds MB/s lines/s RSS_MiB "x cat" "x goaccess"
for lines in ${LINES:-1000000 5000000}; do
    log=target/bench/access-$lines.log
    [ -s "$log" ] || target/release/examples/gen_access_log "$lines" >"$log"
    bytes=$(stat -c %s "$log")
    cat "$log" >/dev/null # into the page cache for every tool alike
    read -r cat_s cat_rss < <(measure cat "$log")
    read -r ps_s ps_rss < <(measure "$perfsage" logs "$log" --format json)
    read -r ga_s ga_rss < <(measure goaccess "$log" --no-global-config \
        --log-format='%h %^[%d:%t %^] "%r" %s %b "%R" "%u" %T %^' \
        --date-format='%d/%b/%Y' --time-format='%T' -o target/bench/goaccess.json)
    for row in "cat $cat_s $cat_rss" "perfsage $ps_s $ps_rss" "goaccess $ga_s $ga_rss"; do
        read -r tool s rss <<<"$row"
        awk -v log="${lines}" -v tool="$tool" -v s="$s" -v rss="$rss" -v bytes="$bytes" -v lines="$lines" \
            -v cat_s="$cat_s" -v ga_s="$ga_s" 'BEGIN {
                s = (s < 0.01 ? 0.01 : s)
                printf "%-9s %-9s %8.2f %9.0f %12.0f %9.1f %9.2f %12.1f\n", log, tool, s, bytes / 1e6 / s,
                    lines / s, rss / 1024, (cat_s < 0.01 ? 0.01 : cat_s) / s, ga_s / s }'
    done
done
