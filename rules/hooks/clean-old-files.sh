#!/bin/sh
# perfsage hook: remove regular files older than N days, only inside the roots
# the operator allowed in the rule pack.
#
# Parameters (from the plugin, as data): PERFSAGE_PARAM_DIR (a directory or a
# mount point, possibly `/`), PERFSAGE_PARAM_OLDER_THAN_DAYS.
# From the rule pack: PERFSAGE_ALLOWED_ROOTS, colon-separated directories.
# From perfsage: PERFSAGE_DRY_RUN (1: list the files and their total size).
#
# What is cleaned is DIR intersected with the allowed roots: DIR itself when it
# lies inside an allowed root, or each allowed root inside DIR on DIR's
# filesystem (so cleaning frees room where the finding said it was short).
# `/` is never an allowed root. Symbolic links are never followed: the roots
# are resolved once, and find(1) walks physically (-P), stays on one
# filesystem (-xdev) and removes regular files only. Deletion cannot be undone:
# this hook has no rollback; review its dry run (`perfsage plan`) first.
#
# A file is old only when its modification, change AND access times are all
# older than N days: a file someone still reads (atime) or just moved or
# chmod-ed (ctime) is in use, whatever its mtime says. (With `noatime` mounts
# the access time says nothing new, and the other two decide.) Directories
# named `systemd-private-*` (systemd's PrivateTmp of running services) are
# never entered, nor is a root inside one. Files are removed with
# `find -execdir`, which works from each directory and keeps `-prune` in force.
# Test seam, rule-pack env only (like sysctl-set's PERFSAGE_SYSCTL_ROOT):
# PERFSAGE_CLEAN_NOW, the epoch second taken as "now" (default: the clock),
# since no test can make a file's change time old.
set -eu
# No globbing, ever, and byte-wise character classes: every parameter below is
# checked whole before it is used, and always expanded quoted.
set -f
LC_ALL=C
export LC_ALL

fail() { printf 'clean-old-files: %s\n' "$*" >&2; exit 2; }

dir=${PERFSAGE_PARAM_DIR:-}
days=${PERFSAGE_PARAM_OLDER_THAN_DAYS:-}
allowed=${PERFSAGE_ALLOWED_ROOTS:-}
dry_run=${PERFSAGE_DRY_RUN:-0}

case $days in
'' | *[!0-9]*) fail "older_than_days must be a whole number of days, not '$days'" ;;
esac
[ "${#days}" -le 5 ] && [ "$days" -ge 1 ] || fail "older_than_days must be 1..99999, not $days"
case $dir in
*[!A-Za-z0-9/._+@-]*) fail "refusing dir: an absolute path of letters, digits and / . _ + @ - only" ;;
/*) ;;
*) fail "dir must be an absolute path, not '$dir'" ;;
esac
[ "${#dir}" -le 4096 ] || fail "refusing dir: longer than 4096 bytes"
[ -d "$dir" ] || fail "no such directory: $dir"
dir=$(realpath -e -- "$dir")
[ -n "$allowed" ] || fail "no allowed roots: set PERFSAGE_ALLOWED_ROOTS in this hook's env in the rule pack"

# Whether $1 is $2 or lies under it.
within() {
    [ "$2" = / ] || [ "$1" = "$2" ] || case $1 in "$2"/*) true ;; *) false ;; esac
}

device=$(stat -c %d -- "$dir")
roots=''
count=0
old_ifs=$IFS
IFS=:
for root in $allowed; do
    IFS=$old_ifs
    [ -n "$root" ] || continue
    case $root in /*) ;; *) fail "allowed root '$root' is not an absolute path" ;; esac
    if ! real=$(realpath -e -- "$root" 2>/dev/null) || [ ! -d "$real" ]; then
        printf 'skipping allowed root %s: no such directory\n' "$root"
        continue
    fi
    [ "$real" != / ] || fail "/ is never an allowed root"
    if within "$dir" "$real"; then
        pick=$dir
    elif within "$real" "$dir"; then
        if [ "$(stat -c %d -- "$real")" != "$device" ]; then
            printf 'skipping %s: another filesystem than %s\n' "$real" "$dir"
            continue
        fi
        pick=$real
    else
        continue
    fi
    # One line per root: a path with a newline cannot be told apart, so refuse it.
    case $pick in *'
'*) fail "refusing a root whose path holds a newline" ;; esac
    case /$pick/ in */systemd-private-*/*)
        printf 'skipping %s: inside a systemd-private-* directory (a service'"'"'s private /tmp)\n' "$pick"
        continue
        ;;
    esac
    roots="$roots$pick
"
    count=$((count + 1))
done
IFS=$old_ifs
[ "$count" -gt 0 ] || fail "$dir is outside every allowed root ($allowed): nothing may be cleaned there"

now=${PERFSAGE_CLEAN_NOW:-$(date +%s)}
case $now in '' | *[!0-9]*) fail "PERFSAGE_CLEAN_NOW '$now' is not a number of seconds" ;; esac
cutoff=@$((now - days * 86400))
# Old: not newer than the cutoff by any of the three clocks. systemd-private-* is pruned, never entered.
old_files() {
    start=$1
    shift
    find -P "$start" -xdev -type d -name 'systemd-private-*' -prune -o \
        -type f ! -newermt "$cutoff" ! -newerct "$cutoff" ! -newerat "$cutoff" "$@"
}
verb=removed
[ "$dry_run" = 1 ] && verb='would remove'
printf '%s\n' "$roots" | sort -u | while IFS= read -r root; do
    [ -n "$root" ] || continue
    summary=$(old_files "$root" -printf '%s\n' |
        awk '{ n++; s += $1 } END { printf "%d %d", n, s }')
    files=${summary% *}
    bytes=${summary#* }
    printf '%s %s files, %s bytes, older than %s days under %s\n' "$verb" "$files" "$bytes" "$days" "$root"
    if [ "$dry_run" = 1 ]; then
        old_files "$root" -ls
    else
        old_files "$root" -ls -execdir rm -f -- {} +
    fi
done
