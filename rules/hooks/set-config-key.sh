#!/bin/sh
# perfsage hook: set `key = value` in a configuration file (postgresql.conf,
# sysctl.conf, my.cnf style), with a backup so a rollback restores the file.
#
# Parameters (from the plugin, as data): PERFSAGE_PARAM_FILE, PERFSAGE_PARAM_KEY,
# PERFSAGE_PARAM_VALUE. From the rule pack: PERFSAGE_ALLOWED_FILES, the
# colon-separated files this hook may edit (none by default). From perfsage:
# PERFSAGE_PHASE, PERFSAGE_DRY_RUN (1: print the diff), PERFSAGE_STATE_DIR,
# PERFSAGE_RUN (the journal's run id), PERFSAGE_ACTION, PERFSAGE_TARGET.
#
# Backups are per apply run and step: `<state>/runs/<run>/<id>.bak` holds the
# file as it was just before this step of this run, `<id>.after` the SHA-256
# of what the step wrote. A rollback of run R restores R's backup only, and
# only while the file is still exactly what R wrote: a later edit (by hand or
# by another run) is never lost to an older rollback; the hook refuses and
# says where the backup is. Every write (backup, change, restore) goes to a
# temporary file in the same directory, is fsynced and renamed over, and the
# directory is fsynced.
#
# The first active `key = value` (or `key=value`) line is replaced; without
# one, the setting is appended. The value is read by awk from the environment
# (ENVIRON), so no character in it is ever interpreted.
set -eu
# No globbing, ever, and byte-wise character classes: every parameter below is
# checked whole before it is used, and always expanded quoted.
set -f
LC_ALL=C
export LC_ALL

fail() { printf 'set-config-key: %s\n' "$*" >&2; exit 2; }

file=${PERFSAGE_PARAM_FILE:-}
key=${PERFSAGE_PARAM_KEY:-}
value=${PERFSAGE_PARAM_VALUE-}
allowed=${PERFSAGE_ALLOWED_FILES:-}
dry_run=${PERFSAGE_DRY_RUN:-0}
state=${PERFSAGE_STATE_DIR:?PERFSAGE_STATE_DIR is not set}

case $key in
'' | [!A-Za-z_]* | *[!A-Za-z0-9._-]*) fail "refusing key: letters, digits, . _ - only, starting with a letter or _" ;;
esac
[ "${#key}" -le 128 ] || fail "refusing key: longer than 128 bytes"
case $value in *'
'*) fail "refusing a value that spans lines" ;; esac
# A setting's value, never a command: numbers, sizes, words, paths and lists,
# starting with a letter, a digit, `/`, or `-` and a digit (-1). No quotes, no
# `$`, backquotes or globs (a config file may hand its values to a shell).
case $value in
'') ;;
*[!A-Za-z0-9\ ._:,/+-]*) fail "refusing value for $key: letters, digits, spaces and . _ : , / + - only" ;;
[A-Za-z0-9/]* | -[0-9]*) ;;
*) fail "refusing value for $key: it must start with a letter, a digit, / or a negative number" ;;
esac
[ "${#value}" -le 256 ] || fail "refusing value for $key: longer than 256 bytes"
case $file in
*[!A-Za-z0-9/._+@-]* | [!/]*) fail "refusing file: an absolute path of letters, digits and / . _ + @ - only" ;;
esac
[ -f "$file" ] || fail "no such file: $file"
real=$(realpath -e -- "$file")
permitted=no
old_ifs=$IFS
IFS=:
for entry in $allowed; do
    if [ -n "$entry" ] && [ "$(realpath -e -- "$entry" 2>/dev/null || true)" = "$real" ]; then permitted=yes; fi
done
IFS=$old_ifs
[ "$permitted" = yes ] || fail "$real is not in this hook's allowed files (PERFSAGE_ALLOWED_FILES in the rule pack)"

run=${PERFSAGE_RUN:-}
if [ "$dry_run" != 1 ]; then
    case $run in '' | .* | *[!A-Za-z0-9:._-]*) fail "refusing run id '$run' (PERFSAGE_RUN, set by perfsage apply)" ;; esac
fi
# One backup per run and step (action and target), named by a hash: nothing from the plugin reaches a path.
id=$(printf '%s\n%s\n%s' "${PERFSAGE_ACTION:-}" "${PERFSAGE_TARGET:-}" "$real" | sha256sum | cut -c1-32)
rundir=$state/runs/$run
backup=$rundir/$id.bak
after=$rundir/$id.after

digest() { sha256sum <"$1" | cut -c1-64; }
# Copy $1 over $2 atomically: a temporary file beside $2, fsynced, renamed, directory fsynced.
replace_with() {
    new=$(mktemp "$2.perfsage.XXXXXX")
    cp -p -- "$1" "$new" && sync -- "$new" && mv -f -- "$new" "$2" && sync -- "$(dirname -- "$2")" || {
        rm -f -- "$new"
        return 1
    }
}

# The file with the setting changed, on stdout.
rewrite() {
    KEY=$key awk '
        BEGIN { key = ENVIRON["KEY"]; value = ENVIRON["PERFSAGE_PARAM_VALUE"]; done = 0 }
        !done {
            line = $0
            sub(/^[ \t]+/, "", line)
            if (index(line, key) == 1) {
                rest = substr(line, length(key) + 1)
                if (rest ~ /^[ \t]*=/) { print key " = " value; done = 1; next }
            }
        }
        { print }
        END { if (!done) print key " = " value }
    ' "$real"
}

# The current value of the key, if set.
current_value() {
    KEY=$key awk '
        BEGIN { key = ENVIRON["KEY"] }
        {
            line = $0
            sub(/^[ \t]+/, "", line)
            if (index(line, key) == 1) {
                rest = substr(line, length(key) + 1)
                if (rest ~ /^[ \t]*=/) { sub(/^[ \t]*=[ \t]*/, "", rest); print rest; exit }
            }
        }
    ' "$real"
}

case ${PERFSAGE_PHASE:-apply} in
apply)
    if [ "$dry_run" = 1 ]; then
        printf 'would set %s in %s (backup under %s/runs/<run>/):\n' "$key" "$real" "$state"
        rewrite | diff -u --label "$real" --label "$real (new)" "$real" - || true
        exit 0
    fi
    mkdir -p -- "$rundir"
    # The state before this step of this run (an apply repeated in the same step keeps the first).
    [ -f "$backup" ] || replace_with "$real" "$backup" || fail "cannot back up $real to $backup"
    tmp=$(mktemp "$real.perfsage.XXXXXX")
    trap 'rm -f "$tmp"' EXIT
    rewrite >"$tmp"
    chmod --reference="$real" "$tmp"
    chown --reference="$real" "$tmp" 2>/dev/null || true
    sync -- "$tmp"
    mv -f -- "$tmp" "$real"
    trap - EXIT
    sync -- "$(dirname -- "$real")"
    digest "$real" >"$after"
    printf 'set %s = %s in %s (backup in %s)\n' "$key" "$value" "$real" "$backup"
    ;;
verify)
    now=$(current_value)
    [ "$now" = "$value" ] || fail "$key is '$now' in $real, expected '$value'"
    printf '%s = %s in %s\n' "$key" "$now" "$real"
    ;;
rollback)
    [ -f "$backup" ] || fail "no backup of $real from run $run in $backup: nothing to roll back"
    if [ -f "$after" ] && [ "$(digest "$real")" != "$(cat -- "$after")" ]; then
        fail "$real changed after run $run set $key (a later edit or apply): not rolling back over it; its state before run $run is in $backup"
    fi
    if [ "$dry_run" = 1 ]; then
        printf 'would restore %s from %s:\n' "$real" "$backup"
        diff -u "$real" "$backup" || true
        exit 0
    fi
    replace_with "$backup" "$real" || fail "cannot restore $real from $backup"
    rm -f -- "$backup" "$after"
    printf 'restored %s as it was before run %s\n' "$real" "$run"
    ;;
*) fail "unknown phase ${PERFSAGE_PHASE}" ;;
esac
