#!/bin/sh
# perfsage hook: add an index to a MariaDB or MySQL table online
# (ALTER TABLE ... ADD INDEX, ALGORITHM=INPLACE, LOCK=NONE), check it exists,
# drop it on rollback.
#
# Parameters (from the plugin, as data): PERFSAGE_PARAM_DATABASE (the schema),
# PERFSAGE_PARAM_TABLE (table or schema.table), PERFSAGE_PARAM_COLUMNS
# (comma-separated), PERFSAGE_PARAM_INDEX (the new index's name).
# From perfsage: PERFSAGE_PHASE (apply | verify | rollback), PERFSAGE_DRY_RUN (1:
# print the DDL, change nothing), PERFSAGE_STATE_DIR (remembers which indexes
# this hook created, so a rollback never drops one it did not create),
# PERFSAGE_RUN (the record is per run: a rollback of run R drops only an index
# R created), PERFSAGE_TIMEOUT_MS (statements get a lock_wait_timeout of half
# of 90% of it and, on MariaDB, a max_statement_time of 90% of it, at most 1 s
# short, so the server gives up before perfsage kills the hook).
# Connection: the client's own variables (MYSQL_HOST, MYSQL_TCP_PORT, MYSQL_PWD)
# plus MYSQL_USER, from the rule pack's env or passed through with `pass_env`.
set -eu
# No globbing, ever, and byte-wise character classes: every parameter below is
# checked whole before it is used, and always expanded quoted.
set -f
LC_ALL=C
export LC_ALL

fail() { printf 'mysql-create-index: %s\n' "$*" >&2; exit 2; }

database=${PERFSAGE_PARAM_DATABASE:-}
table=${PERFSAGE_PARAM_TABLE:-}
columns=${PERFSAGE_PARAM_COLUMNS:-}
index=${PERFSAGE_PARAM_INDEX:-}
dry_run=${PERFSAGE_DRY_RUN:-0}
state=${PERFSAGE_STATE_DIR:?PERFSAGE_STATE_DIR is not set}

identifier() {
    case $2 in
    '' | [0-9]* | *[!A-Za-z0-9_]*) fail "refusing $1: expected letters, digits and _, not starting with a digit" ;;
    esac
    [ "${#2}" -le 63 ] || fail "refusing $1: longer than 63 bytes"
}
# The column list, whole: identifiers joined by commas, nothing else.
case $columns in
'' | ,* | *, | *,,* | *[!A-Za-z0-9_,]*) fail "refusing columns: identifiers joined by , (no spaces)" ;;
esac
identifier index "$index"
case $table in
*.*) database=${table%%.*}; table=${table#*.} ;;
esac
identifier database "$database"
identifier table "$table"
old_ifs=$IFS
IFS=,
for column in $columns; do identifier column "$column"; done
IFS=$old_ifs
[ -n "$columns" ] || fail "no columns to index"
list=$(printf '%s' "$columns" | sed 's/,/`, `/g')

ddl="ALTER TABLE \`$database\`.\`$table\` ADD INDEX \`$index\` (\`$list\`), ALGORITHM=INPLACE, LOCK=NONE"
drop="ALTER TABLE \`$database\`.\`$table\` DROP INDEX \`$index\`"
run=${PERFSAGE_RUN:-}
if [ "$dry_run" != 1 ]; then
    case $run in '' | .* | *[!A-Za-z0-9:._-]*) fail "refusing run id '$run' (PERFSAGE_RUN, set by perfsage apply)" ;; esac
fi
created=$state/runs/$run/$database.$table.$index.created

budget=${PERFSAGE_TIMEOUT_MS:-30000}
case $budget in '' | *[!0-9]*) fail "PERFSAGE_TIMEOUT_MS '$budget' is not a number" ;; esac
[ "${#budget}" -le 9 ] || budget=999999999
margin=$((budget / 10))
[ "$margin" -ge 1000 ] || margin=1000
statement_ms=$((budget - margin))
[ "$statement_ms" -ge 1000 ] || statement_ms=1000
lock_s=$((statement_ms / 2000))
[ "$lock_s" -ge 1 ] || lock_s=1
limits="SET SESSION lock_wait_timeout = $lock_s"

client=$(command -v mariadb || command -v mysql) || fail "neither mariadb nor mysql (the client) is installed"
# --binary-mode: the client parses no command of its own (`\!` would run a
# shell); --sandbox (MariaDB) also refuses any that touches files.
sandbox=
"$client" --help 2>/dev/null | grep -q -e '--sandbox' && sandbox=--sandbox
sql() { "$client" ${MYSQL_USER:+"--user=$MYSQL_USER"} --binary-mode $sandbox --batch --skip-column-names -e "$limits; $1"; }
exists() {
    sql "select count(*) from information_schema.STATISTICS
         where table_schema = '$database' and table_name = '$table' and index_name = '$index'"
}

if [ "$dry_run" != 1 ]; then
    # max_statement_time is MariaDB's (in seconds); MySQL has no such limit for DDL.
    version=$(sql "select @@version") || fail "cannot reach the server"
    case $version in *MariaDB*) limits="$limits, max_statement_time = $((statement_ms / 1000))" ;; esac
fi

case ${PERFSAGE_PHASE:-apply} in
apply)
    if [ "$dry_run" = 1 ]; then
        printf 'would run: %s\n' "$ddl"
        printf 'rollback would run: %s\n' "$drop"
        exit 0
    fi
    found=$(exists) || fail "cannot reach the server"
    if [ "$found" != 0 ]; then
        printf 'index %s on %s.%s already exists: nothing to do\n' "$index" "$database" "$table"
        exit 0
    fi
    sql "$ddl" || fail "$ddl failed"
    mkdir -p -- "$state/runs/$run"
    : >"$created"
    printf 'created: %s\n' "$ddl"
    ;;
verify)
    found=$(exists) || fail "cannot reach the server"
    [ "$found" != 0 ] || fail "index $index on $database.$table does not exist"
    sql "analyze table \`$database\`.\`$table\`" >/dev/null
    printf 'index %s on %s.%s exists; table analyzed\n' "$index" "$database" "$table"
    ;;
rollback)
    [ -f "$created" ] || fail "index $index on $database.$table was not created by run $run of this hook: not dropping it"
    if [ "$dry_run" = 1 ]; then
        printf 'would run: %s\n' "$drop"
        exit 0
    fi
    sql "$drop" || fail "$drop failed"
    rm -f "$created"
    printf 'dropped: %s\n' "$drop"
    ;;
*) fail "unknown phase ${PERFSAGE_PHASE}" ;;
esac
