#!/usr/bin/env bash
# Access-log analysis, side by side in one run: `cat` (the physical limit:
# reading the file from the page cache), perfsage and goaccess, on the same
# generated 1M-line and 5M-line CRM logs. Prints one row per tool and log:
# seconds, MB/s, lines/s, peak RSS, and the ratio to cat and to goaccess.
#
#   bench/logs.sh            # both logs
#   LINES="1000000" bench/logs.sh
#   PERFSAGE=/path/to/perfsage bench/logs.sh   # another build (default: the release one)
#   BUILD=0 bench/logs.sh                      # no cargo build: the binaries as they are
#
# goaccess reads standard input as well as the file whenever standard input
# is not a terminal, and waits for it to end: run from a pipe that stays open
# (a CI job, an IDE, `ssh host cmd`), it never finishes. Its stdin is
# /dev/null here, and its progress display is off (--no-progress), so it
# spends its time on parsing alone; it keeps everything in memory (no
# --persist/--restore).
set -euo pipefail
cd "$(dirname "$0")/.."
target=${CARGO_TARGET_DIR:-$PWD/target}
[ "${BUILD:-1}" = 0 ] || cargo build --release -q -p perfsage --example gen_access_log
perfsage=${PERFSAGE:-$target/release/perfsage}
bench=$target/bench
mkdir -p "$bench"

# Prints "seconds max_rss_kib" of one command (output discarded).
measure() {
    /usr/bin/time -f "%e %M" -o "$bench/time.txt" "$@" </dev/null >/dev/null 2>"$bench/stderr.txt"
    cat "$bench/time.txt"
}

printf '%-9s %-9s %8s %9s %12s %9s %9s %12s\n' log tool seconds MB/s lines/s RSS_MiB "x cat" "x goaccess"
for lines in ${LINES:-1000000 5000000}; do
    log=$bench/access-$lines.log
    [ -s "$log" ] || "$target/release/examples/gen_access_log" "$lines" >"$log"
    bytes=$(stat -c %s "$log")
    cat "$log" >/dev/null # into the page cache for every tool alike
    read -r cat_s cat_rss < <(measure cat "$log")
    read -r ps_s ps_rss < <(measure "$perfsage" logs "$log" --format json)
    read -r ga_s ga_rss < <(measure goaccess "$log" --no-global-config --no-progress \
        --log-format='%h %^[%d:%t %^] "%r" %s %b "%R" "%u" %T %^' \
        --date-format='%d/%b/%Y' --time-format='%T' -o "$bench/goaccess.json")
    for row in "cat $cat_s $cat_rss" "perfsage $ps_s $ps_rss" "goaccess $ga_s $ga_rss"; do
        read -r tool s rss <<<"$row"
        awk -v logname="${lines}" -v tool="$tool" -v s="$s" -v rss="$rss" -v bytes="$bytes" -v lines="$lines" \
            -v cat_s="$cat_s" -v ga_s="$ga_s" 'BEGIN {
                s = (s < 0.01 ? 0.01 : s)
                printf "%-9s %-9s %8.2f %9.0f %12.0f %9.1f %9.2f %12.1f\n", logname, tool, s, bytes / 1e6 / s,
                    lines / s, rss / 1024, (cat_s < 0.01 ? 0.01 : cat_s) / s, ga_s / s }'
    done
done
