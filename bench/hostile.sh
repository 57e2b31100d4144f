#!/usr/bin/env bash
# Hostile inputs, peak memory and time (nothing generated here is committed):
#  1. an access log of LINES (default 500,000) real CRM lines plus SCANS
#     (default 500,000) scanner 404s, each for a distinct random path
#     (`gen_access_log LINES --scan-paths SCANS`: 1M lines, 162 MB), read by
#     `perfsage logs`, and by goaccess unless GOACCESS=0; target: perfsage at
#     most 64 MiB;
#  2. a MariaDB slow log with 100,000 distinct statement classes and one
#     100 MB statement with no newline at the end, read by `perfsage digest`;
#     target: at most 128 MiB, exit 0, truncation and folding reported.
#
#   PERFSAGE=/path/to/perfsage GENERATOR=/path/to/gen_access_log bench/hostile.sh
set -euo pipefail
cd "$(dirname "$0")/.."
target=${CARGO_TARGET_DIR:-$PWD/target}
perfsage=${PERFSAGE:-$target/release/perfsage}
generator=${GENERATOR:-$target/release/examples/gen_access_log}
bench=$target/bench
mkdir -p "$bench"
lines=${LINES:-500000}
scans=${SCANS:-500000}

measure() { # label, command...: prints label, seconds, peak RSS MiB, exit code
    local label=$1; shift
    /usr/bin/time -f "%e %M %x" -o "$bench/time.txt" "$@" </dev/null >"$bench/out.txt" 2>"$bench/stderr.txt" || true
    read -r s kib code <"$bench/time.txt"
    awk -v l="$label" -v s="$s" -v k="$kib" -v c="$code" 'BEGIN { printf "%-28s %8.2f s %9.1f MiB  exit %s\n", l, s, k / 1024, c }'
}

log=$bench/access-scan-$lines-$scans.log
[ -s "$log" ] || "$generator" "$lines" --scan-paths "$scans" >"$log"
cat "$log" >/dev/null
measure "perfsage logs (scan)" "$perfsage" logs "$log" --format json
grep -o 'access log.*folded into the route (other)' "$bench/stderr.txt" || { echo "no fold reported" >&2; exit 1; }
if [ "${GOACCESS:-1}" != 0 ]; then
    measure "goaccess (scan)" goaccess "$log" --no-global-config --no-progress \
        --log-format='%h %^[%d:%t %^] "%r" %s %b "%R" "%u" %T %^' \
        --date-format='%d/%b/%Y' --time-format='%T' -o "$bench/goaccess-scan.json"
fi

slow=$bench/slow-hostile.log
if [ ! -s "$slow" ]; then
    python3 - "$slow" <<'PY'
import sys
with open(sys.argv[1], "w") as out:
    for i in range(100_000):
        out.write("# User@Host: app[app] @ localhost []\n# Query_time: 0.%06d  Lock_time: 0.0  Rows_sent: 1  Rows_examined: %d\n"
                  "SET timestamp=1732658401;\nselect * from table_%d where id = %d;\n" % (i % 999999, i, i, i))
        if i == 50_000:
            out.write("# Query_time: 1.5  Rows_sent: 0  Rows_examined: 0\nselect '" + "x" * (100 << 20) + "' from huge;\n")
    out.write("# Query_time: 2.5  Rows_sent: 0  Rows_examined: 0\ninsert into t values ('" + "y" * (100 << 20))
PY
fi
cat "$slow" >/dev/null
measure "perfsage digest (hostile)" "$perfsage" digest "$slow" --format json
grep -o '[0-9]* entries had a statement.*bytes' "$bench/stderr.txt" || { echo "no truncation reported" >&2; exit 1; }
grep -o '[0-9]* entries of statement classes beyond the first [0-9]*' "$bench/stderr.txt" || { echo "no fold reported" >&2; exit 1; }
