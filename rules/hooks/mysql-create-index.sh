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
# this hook created, so a rollback never drops one it did not create).
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
created=$state/$database.$table.$index.created

client=$(command -v mariadb || command -v mysql) || fail "neither mariadb nor mysql (the client) is installed"
# --binary-mode: the client parses no command of its own (`\!` would run a
# shell); --sandbox (MariaDB) also refuses any that touches files.
sandbox=
"$client" --help 2>/dev/null | grep -q -e '--sandbox' && sandbox=--sandbox
sql() { "$client" ${MYSQL_USER:+"--user=$MYSQL_USER"} --binary-mode $sandbox --batch --skip-column-names -e "$1"; }
exists() {
    sql "select count(*) from information_schema.STATISTICS
         where table_schema = '$database' and table_name = '$table' and index_name = '$index'"
}

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
    [ -f "$created" ] || fail "index $index on $database.$table was not created by this hook: not dropping it"
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
