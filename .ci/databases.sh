#!/usr/bin/env bash
# The database tests read per-statement statistics, which both servers keep
# only when asked at start-up: PostgreSQL's pg_stat_statements must be in
# shared_preload_libraries, MariaDB's performance_schema must be ON. This turns
# them on (once; a no-op afterwards) and restarts the server that needed it.
# It is what a DBA does before profiling a database, and what perfsage's
# warnings tell an operator to do.
set -euo pipefail

wait_for() { # wait_for DESCRIPTION COMMAND... (up to 60 s)
    local what=$1; shift
    for _ in $(seq 120); do "$@" >/dev/null 2>&1 && return 0; sleep 0.5; done
    echo "$what did not come back" >&2; return 1
}

psql_q() { psql -h 127.0.0.1 -U postgres -d postgres -tAc "$1"; }
if ! psql_q "show shared_preload_libraries" | grep -q pg_stat_statements; then
    psql_q "alter system set shared_preload_libraries = 'pg_stat_statements'"
    service postgresql restart
    wait_for "PostgreSQL" psql_q "select 1"
fi

if [ "$(mysql -h 127.0.0.1 -uroot -N -e 'select @@performance_schema')" != 1 ]; then
    printf '\n[mysqld]\n# perfsage tests: statement digests\nperformance_schema = ON\n' >>/etc/mysql/my.cnf
    # Debian's init script cannot stop a server it did not start (it checks
    # with its own maintenance account), so stop it with the root account.
    pid=$(cat /run/mysqld/mysqld.pid 2>/dev/null || true)
    mysqladmin -h 127.0.0.1 -uroot shutdown
    [ -z "$pid" ] || while kill -0 "$pid" 2>/dev/null; do sleep 0.5; done
    # The init script reports failure when its maintenance account check fails
    # even though the server started; the wait below is the real check.
    service mariadb start || true
    wait_for "MariaDB" mysql -h 127.0.0.1 -uroot -e "select 1"
fi
