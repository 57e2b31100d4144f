#!/bin/sh
# perfsage hook: create a PostgreSQL index without blocking writes
# (CREATE INDEX CONCURRENTLY), check it is valid, drop it on rollback.
#
# Parameters (from the plugin, as data): PERFSAGE_PARAM_DATABASE,
# PERFSAGE_PARAM_TABLE (table or schema.table), PERFSAGE_PARAM_COLUMNS
# (comma-separated), PERFSAGE_PARAM_INDEX (the new index's name).
# From perfsage: PERFSAGE_PHASE (apply | verify | rollback), PERFSAGE_DRY_RUN (1:
# print the DDL, change nothing), PERFSAGE_STATE_DIR (remembers which indexes
# this hook created, so a rollback never drops one it did not create),
# PERFSAGE_RUN (the journal's run id: the record is per run, and a rollback of
# run R drops only an index R created), PERFSAGE_TIMEOUT_MS (the hook's budget:
# every statement runs with a statement_timeout of 90% of it, at most 1 s
# short, and a lock_timeout of half that, so the server gives up and cleans up
# before perfsage kills the hook).
# Connection: libpq's own variables (PGHOST, PGPORT, PGUSER, PGPASSWORD,
# PGPASSFILE, PGSSLMODE), from the rule pack's env or passed through with
# `pass_env`; the database is the parameter.
set -eu
# No globbing, ever, and byte-wise character classes: every parameter below is
# checked whole before it is used, and always expanded quoted.
set -f
LC_ALL=C
export LC_ALL

fail() { printf 'pg-create-index: %s\n' "$*" >&2; exit 2; }

database=${PERFSAGE_PARAM_DATABASE:-}
table=${PERFSAGE_PARAM_TABLE:-}
columns=${PERFSAGE_PARAM_COLUMNS:-}
index=${PERFSAGE_PARAM_INDEX:-}
dry_run=${PERFSAGE_DRY_RUN:-0}
state=${PERFSAGE_STATE_DIR:?PERFSAGE_STATE_DIR is not set}

# Plain identifiers only: nothing to quote, nothing to inject.
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
identifier database "$database"
identifier index "$index"
case $table in
*.*) identifier schema "${table%%.*}"; identifier table "${table#*.}" ;;
*) identifier table "$table" ;;
esac
old_ifs=$IFS
IFS=,
for column in $columns; do identifier column "$column"; done
IFS=$old_ifs
[ -n "$columns" ] || fail "no columns to index"
schema=public
case $table in *.*) schema=${table%%.*} ;; esac
list=$(printf '%s' "$columns" | sed 's/,/, /g')

# No IF NOT EXISTS: an index someone else creates meanwhile makes this fail, rather than be taken for ours.
ddl="CREATE INDEX CONCURRENTLY $index ON $table ($list)"
drop="DROP INDEX CONCURRENTLY IF EXISTS $schema.$index"
run=${PERFSAGE_RUN:-}
if [ "$dry_run" != 1 ]; then
    case $run in '' | .* | *[!A-Za-z0-9:._-]*) fail "refusing run id '$run' (PERFSAGE_RUN, set by perfsage apply)" ;; esac
fi
created=$state/runs/$run/$database.$schema.$index.created

budget=${PERFSAGE_TIMEOUT_MS:-30000}
case $budget in '' | *[!0-9]*) fail "PERFSAGE_TIMEOUT_MS '$budget' is not a number" ;; esac
[ "${#budget}" -le 9 ] || budget=999999999
margin=$((budget / 10))
[ "$margin" -ge 1000 ] || margin=1000
statement_ms=$((budget - margin))
[ "$statement_ms" -ge 100 ] || statement_ms=100
lock_ms=$((statement_ms / 2))
PGOPTIONS="-c statement_timeout=$statement_ms -c lock_timeout=$lock_ms"
export PGOPTIONS

# -X: no psqlrc; -c: one SQL string sent to the server as is (never a
# backslash command: every statement here starts with a keyword).
sql() { psql -X -q -v ON_ERROR_STOP=1 -d "$database" -tA -c "$1"; }
# Whether the index exists, and whether it is valid and ready: `t|t`, `f|t`, ... or empty.
index_state() {
    sql "select i.indisvalid, i.indisready from pg_index i join pg_class c on c.oid = i.indexrelid
         join pg_namespace n on n.oid = c.relnamespace where c.relname = '$index' and n.nspname = '$schema'"
}

case ${PERFSAGE_PHASE:-apply} in
apply)
    if [ "$dry_run" = 1 ]; then
        printf 'would run on database %s: %s\n' "$database" "$ddl"
        printf 'rollback would run: %s\n' "$drop"
        exit 0
    fi
    existing=$(index_state) || fail "cannot reach database $database"
    if [ "$existing" = "t|t" ]; then
        printf 'index %s.%s already exists and is valid: nothing to do (and nothing for a rollback to drop)\n' "$schema" "$index"
        exit 0
    fi
    if [ -n "$existing" ]; then
        # An invalid index: a failed build, or one in progress. Drop it only if
        # a run of this hook recorded it as its own (a build of ours that failed).
        ours=no
        for mark in "$state"/runs/*/"$database.$schema.$index.created"; do [ -f "$mark" ] && ours=yes; done
        [ "$ours" = yes ] || fail "index $schema.$index exists but is not valid (state '$existing'), and this hook did not create it: a build in progress or someone else's; not touching it"
        sql "$drop" >/dev/null || fail "$drop failed"
        for mark in "$state"/runs/*/"$database.$schema.$index.created"; do rm -f -- "$mark"; done
    fi
    mkdir -p -- "$state/runs/$run"
    # Recorded before the build: a build killed halfway leaves an invalid index that is still known to be ours.
    : >"$created"
    if ! sql "$ddl" >/dev/null; then
        [ "$(index_state || true)" = "f|f" ] || [ "$(index_state || true)" = "f|t" ] || rm -f -- "$created"
        fail "$ddl failed"
    fi
    printf 'created on database %s: %s\n' "$database" "$ddl"
    ;;
verify)
    existing=$(index_state) || fail "cannot reach database $database"
    [ "$existing" = "t|t" ] || fail "index $schema.$index is not valid and ready (state '${existing:-absent}')"
    sql "analyze $table" >/dev/null
    printf 'index %s.%s is valid and ready; %s analyzed\n' "$schema" "$index" "$table"
    ;;
rollback)
    [ -f "$created" ] || fail "index $schema.$index was not created by run $run of this hook: not dropping it"
    if [ "$dry_run" = 1 ]; then
        printf 'would run on database %s: %s\n' "$database" "$drop"
        exit 0
    fi
    sql "$drop" >/dev/null || fail "$drop failed"
    rm -f "$created"
    printf 'dropped on database %s: %s\n' "$database" "$drop"
    ;;
*) fail "unknown phase ${PERFSAGE_PHASE}" ;;
esac
