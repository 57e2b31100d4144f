#!/usr/bin/env bash
# The database tests read per-statement statistics, which both servers keep
# only when asked at start-up: PostgreSQL's pg_stat_statements must be in
# shared_preload_libraries, MariaDB's performance_schema must be ON. This makes
# sure both servers are up (starting one that is not, the way the machine
# starts it), turns the settings on (once; a no-op afterwards) and restarts the
# server that needed it. It is what a DBA does before profiling a database,
# and what perfsage's warnings tell an operator to do.
set -euo pipefail

wait_for() { # wait_for DESCRIPTION SECONDS COMMAND...
    local what=$1 seconds=$2; shift 2
    for _ in $(seq $((seconds * 2))); do "$@" >/dev/null 2>&1 && return 0; sleep 0.5; done
    echo "$what is not answering after ${seconds} s" >&2; return 1
}

# --- PostgreSQL -------------------------------------------------------------
psql_q() { psql -h 127.0.0.1 -U postgres -d postgres -tAc "$1"; }
pg_cluster() { # pg_cluster start|restart: the machine's own way to (re)start it
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | sort -V | tail -1)" main "$1"
}
# A server that is still starting gets a few seconds before we start it ourselves.
if ! wait_for "PostgreSQL" 10 psql_q "select 1"; then
    echo "starting PostgreSQL" >&2
    pg_cluster start || true
    wait_for "PostgreSQL" 60 psql_q "select 1"
fi
if ! psql_q "show shared_preload_libraries" | grep -q pg_stat_statements; then
    psql_q "alter system set shared_preload_libraries = 'pg_stat_statements'"
    pg_cluster restart
    wait_for "PostgreSQL" 60 psql_q "select 1"
fi

# --- MariaDB ----------------------------------------------------------------
mysql_q() { mysql -h 127.0.0.1 -uroot -N -e "$1"; }
start_mariadb() { # as the machine starts it; --oknodo: fine when already running
    start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd
    wait_for "MariaDB" 60 mysql_q "select 1"
}
if ! wait_for "MariaDB" 10 mysql_q "select 1"; then
    echo "starting MariaDB" >&2
    start_mariadb
fi
if [ "$(mysql_q 'select @@performance_schema')" != 1 ]; then
    grep -q '^performance_schema *= *ON' /etc/mysql/my.cnf ||
        printf '\n[mysqld]\n# perfsage tests: statement digests\nperformance_schema = ON\n' >>/etc/mysql/my.cnf
    # Debian's init script cannot stop a server it did not start (it checks
    # with its own maintenance account), so stop it with the root account and
    # wait for the process to go before starting it again.
    pid=$(cat /run/mysqld/mysqld.pid 2>/dev/null || true)
    mysqladmin -h 127.0.0.1 -uroot shutdown
    [ -z "$pid" ] || while kill -0 "$pid" 2>/dev/null; do sleep 0.5; done
    start_mariadb
    [ "$(mysql_q 'select @@performance_schema')" = 1 ] || {
        echo "MariaDB restarted but performance_schema is still off" >&2; exit 1
    }
fi
