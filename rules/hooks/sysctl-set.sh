#!/bin/sh
# perfsage hook: set a kernel parameter (sysctl), remembering the old value so
# a rollback restores it.
#
# Parameters (from the plugin, as data): PERFSAGE_PARAM_KEY (e.g. vm.swappiness),
# PERFSAGE_PARAM_VALUE (e.g. 10).
# From perfsage: PERFSAGE_PHASE (apply | verify | rollback), PERFSAGE_DRY_RUN (1:
# print the change, make none), PERFSAGE_STATE_DIR (where the old value is kept).
# From the rule pack: PERFSAGE_SYSCTL_ROOT (default /proc/sys).
# PERFSAGE_RUN (the journal's run id): the old value is kept per run, in
# `<state>/runs/<run>/<key>.old`, with the value the run set beside it; a
# rollback of run R restores R's old value only while the parameter still has
# the value R set, so a later change (by hand or by another run) is never undone.
set -eu
# No globbing, ever, and byte-wise character classes: every parameter below is
# checked whole before it is used, and always expanded quoted.
set -f
LC_ALL=C
export LC_ALL

fail() { printf 'sysctl-set: %s\n' "$*" >&2; exit 2; }

key=${PERFSAGE_PARAM_KEY:-}
value=${PERFSAGE_PARAM_VALUE:-}
root=${PERFSAGE_SYSCTL_ROOT:-/proc/sys}
dry_run=${PERFSAGE_DRY_RUN:-0}
state=${PERFSAGE_STATE_DIR:?PERFSAGE_STATE_DIR is not set}

# A dotted name of letters, digits, `_` and `-`: no slash, no `..`, nothing to escape.
case $key in
'' | [!A-Za-z0-9]* | *. | *..* | *[!A-Za-z0-9._-]*) fail "refusing key: expected a dotted name like vm.swappiness" ;;
esac
[ "${#key}" -le 128 ] || fail "refusing key: longer than 128 bytes"
# Numbers, words and the space-separated lists some parameters take (tcp_rmem),
# starting with a letter or digit (nothing that reads as an option).
case $value in
'' | [!A-Za-z0-9]* | *[!A-Za-z0-9\ ._:,-]*) fail "refusing value for $key: only letters, digits, spaces and . _ : , -, starting with a letter or digit" ;;
esac
[ "${#value}" -le 256 ] || fail "refusing value for $key: longer than 256 bytes"

path=$root/$(printf '%s' "$key" | tr . /)
[ -f "$path" ] || fail "no such kernel parameter: $key ($path)"
run=${PERFSAGE_RUN:-}
if [ "$dry_run" != 1 ]; then
    case $run in '' | .* | *[!A-Za-z0-9:._-]*) fail "refusing run id '$run' (PERFSAGE_RUN, set by perfsage apply)" ;; esac
fi
saved=$state/runs/$run/$key.old
wrote=$state/runs/$run/$key.set
current=$(tr -s ' \t' '  ' <"$path")
wanted=$(printf '%s' "$value" | tr -s ' \t' '  ')

case ${PERFSAGE_PHASE:-apply} in
apply)
    if [ "$dry_run" = 1 ]; then
        printf 'would set %s: %s -> %s (write %s; the old value is kept in %s for rollback)\n' \
            "$key" "$current" "$value" "$path" "$saved"
        [ -w "$path" ] || printf 'warning: %s is not writable here: applying would fail\n' "$path"
        exit 0
    fi
    # Keep the value from before this run's change: a rollback of this run restores that.
    mkdir -p -- "$state/runs/$run"
    [ -f "$saved" ] || printf '%s\n' "$current" >"$saved"
    printf '%s\n' "$wanted" >"$wrote"
    printf '%s\n' "$value" >"$path" || fail "cannot write $path"
    printf 'set %s: %s -> %s (old value kept in %s)\n' "$key" "$current" "$value" "$saved"
    ;;
verify)
    [ "$current" = "$wanted" ] || fail "$key is '$current', expected '$wanted'"
    printf '%s = %s\n' "$key" "$current"
    ;;
rollback)
    [ -f "$saved" ] || fail "no saved value for $key from run $run in $saved: nothing to roll back"
    old=$(cat "$saved")
    if [ -f "$wrote" ] && [ "$current" != "$(cat "$wrote")" ]; then
        fail "$key is '$current', not the '$(cat "$wrote")' run $run set (changed since): not rolling back over it; the value before run $run was '$old'"
    fi
    if [ "$dry_run" = 1 ]; then
        printf 'would restore %s: %s -> %s\n' "$key" "$current" "$old"
        exit 0
    fi
    printf '%s\n' "$old" >"$path" || fail "cannot write $path"
    rm -f "$saved" "$wrote"
    printf 'restored %s: %s -> %s\n' "$key" "$current" "$old"
    ;;
*) fail "unknown phase ${PERFSAGE_PHASE}" ;;
esac
