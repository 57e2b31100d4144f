#!/bin/sh
# perfsage hook: set a service's worker count in its configuration file
# (php-fpm's `pm.max_children = N` in a pool file, gunicorn's `workers = N`
# in gunicorn.conf.py, ...), by way of set-config-key.sh beside it: same
# backup, diff, verify and rollback.
#
# Parameters (from the plugin, as data): PERFSAGE_PARAM_SERVICE (the service
# the finding is about), PERFSAGE_PARAM_WORKERS (the suggested count). From
# the rule pack, because only the operator knows which file holds the workers
# of which service:
#   PERFSAGE_WORKERS_FILE     the one file this hook may edit (none by default)
#   PERFSAGE_WORKERS_KEY      the setting, `key = value` style (default pm.max_children)
#   PERFSAGE_WORKERS_MAX      the most workers it will ever set (default 64):
#                             memory per worker is not something perfsage sees
#   PERFSAGE_WORKERS_SERVICE  if set, only findings about this service are acted on
# The running service reads the file at its next reload or restart; this hook
# does not restart anything.
set -eu
# No globbing, ever, and byte-wise character classes: every parameter below is
# checked whole before it is used, and always expanded quoted.
set -f
LC_ALL=C
export LC_ALL

fail() { printf 'set-workers: %s\n' "$*" >&2; exit 2; }

service=${PERFSAGE_PARAM_SERVICE-}
workers=${PERFSAGE_PARAM_WORKERS-}
file=${PERFSAGE_WORKERS_FILE:-}
key=${PERFSAGE_WORKERS_KEY:-pm.max_children}
max=${PERFSAGE_WORKERS_MAX:-64}
only=${PERFSAGE_WORKERS_SERVICE:-}

case $workers in '' | *[!0-9]* | 0*) fail "refusing worker count '$workers': a positive whole number" ;; esac
case $service in
'' | [!A-Za-z0-9]* | *[!A-Za-z0-9_.-]*) fail "refusing service name: letters, digits and _ . - only" ;;
esac
[ "${#service}" -le 128 ] || fail "refusing service name: longer than 128 bytes"
case $max in '' | *[!0-9]* | 0*) fail "PERFSAGE_WORKERS_MAX '$max' is not a positive whole number" ;; esac
[ "${#workers}" -le 6 ] || fail "refusing worker count '$workers': over the cap of $max"
[ "$workers" -le "$max" ] || fail "refusing $workers workers: over the cap of $max (PERFSAGE_WORKERS_MAX in the rule pack)"
[ -n "$file" ] || fail "no workers file configured: set PERFSAGE_WORKERS_FILE (and PERFSAGE_WORKERS_KEY) in the rule pack"
if [ -n "$only" ] && [ "$service" != "$only" ]; then
    fail "this hook is set up for service '$only' (PERFSAGE_WORKERS_SERVICE), not '$service'"
fi

PERFSAGE_PARAM_FILE=$file PERFSAGE_PARAM_KEY=$key PERFSAGE_PARAM_VALUE=$workers PERFSAGE_ALLOWED_FILES=$file \
    exec "$(dirname -- "$0")/set-config-key.sh"
