#!/bin/sh
# perfsage hook: change a process's niceness, remembering the old one so a
# rollback restores it.
#
# Parameters (from the plugin, as data): PERFSAGE_PARAM_PID, PERFSAGE_PARAM_NICE
# (-20..19). From perfsage: PERFSAGE_PHASE, PERFSAGE_DRY_RUN, PERFSAGE_STATE_DIR.
# The saved value is keyed by pid and start time, so a reused pid is never
# "restored" to another process's niceness, and per apply run (PERFSAGE_RUN):
# a rollback of run R restores R's old value only while the process still has
# the niceness R set, so a later renice (by hand or by another run) is never undone.
set -eu
# No globbing, ever, and byte-wise character classes: every parameter below is
# checked whole before it is used, and always expanded quoted.
set -f
LC_ALL=C
export LC_ALL

fail() { printf 'renice-process: %s\n' "$*" >&2; exit 2; }

pid=${PERFSAGE_PARAM_PID:-}
nice=${PERFSAGE_PARAM_NICE:-}
dry_run=${PERFSAGE_DRY_RUN:-0}
state=${PERFSAGE_STATE_DIR:?PERFSAGE_STATE_DIR is not set}

case $pid in
'' | *[!0-9]* | 0*) fail "pid must be a positive whole number, not '$pid'" ;;
esac
[ "${#pid}" -le 10 ] || fail "pid $pid is too long"
case $nice in
-*) magnitude=${nice#-} ;;
*) magnitude=$nice ;;
esac
case $magnitude in
'' | *[!0-9]*) fail "nice must be a whole number in -20..19, not '$nice'" ;;
esac
[ "${#magnitude}" -le 2 ] && [ "$nice" -ge -20 ] && [ "$nice" -le 19 ] || fail "nice must be in -20..19, not $nice"

stat_line=$(cat "/proc/$pid/stat" 2>/dev/null) || fail "no process $pid"
# Fields after "pid (comm) ": state is the 1st, nice the 17th, start time the 20th.
set -- ${stat_line##*) }
current=${17}
started=${20}
run=${PERFSAGE_RUN:-}
if [ "$dry_run" != 1 ]; then
    case $run in '' | .* | *[!A-Za-z0-9:._-]*) fail "refusing run id '$run' (PERFSAGE_RUN, set by perfsage apply)" ;; esac
fi
saved=$state/runs/$run/$pid.$started.nice

case ${PERFSAGE_PHASE:-apply} in
apply)
    if [ "$dry_run" = 1 ]; then
        printf 'would renice process %s from %s to %s (the old value is kept in %s)\n' "$pid" "$current" "$nice" "$saved"
        exit 0
    fi
    mkdir -p -- "$state/runs/$run"
    [ -f "$saved" ] || printf '%s\n' "$current" >"$saved"
    renice "$nice" -p "$pid" >/dev/null || fail "renice $nice -p $pid failed"
    printf 'reniced process %s: %s -> %s\n' "$pid" "$current" "$nice"
    ;;
verify)
    [ "$current" = "$nice" ] || fail "process $pid has nice $current, expected $nice"
    printf 'process %s has nice %s\n' "$pid" "$current"
    ;;
rollback)
    [ -f "$saved" ] || fail "no saved niceness for process $pid from run $run: nothing to roll back"
    old=$(cat "$saved")
    [ "$current" = "$nice" ] ||
        fail "process $pid has nice $current, not the $nice run $run set (changed since): not rolling back over it; it was $old before run $run"
    if [ "$dry_run" = 1 ]; then
        printf 'would renice process %s back from %s to %s\n' "$pid" "$current" "$old"
        exit 0
    fi
    renice "$old" -p "$pid" >/dev/null || fail "renice $old -p $pid failed"
    rm -f "$saved"
    printf 'reniced process %s back: %s -> %s\n' "$pid" "$current" "$old"
    ;;
*) fail "unknown phase ${PERFSAGE_PHASE}" ;;
esac
