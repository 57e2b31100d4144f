#!/usr/bin/env bash
# perfsage's database findings next to MySQLTuner's recommendations, on the
# same MariaDB (127.0.0.1:3306, root without a password) in one run: a CRM
# schema with enough rows, a workload with the usual problems (a lookup on an
# unindexed column, a report that scans and sorts on disk, an idle
# transaction), then `mysqltuner` and `perfsage run --mysql`. Writes both
# outputs to target/bench/ and prints MySQLTuner's [!!] lines and perfsage's
# findings; BENCHMARKS.md compares them point by point.
#
#   bench/mysqltuner.sh
set -euo pipefail
cd "$(dirname "$0")/.."
[ "${BUILD:-1}" = 0 ] || cargo build --release -q -p perfsage --bin perfsage
perfsage=${PERFSAGE:-${CARGO_TARGET_DIR:-$PWD/target}/release/perfsage}
db=perfsage_tuner_crm
mkdir -p target/bench
sql() { mysql -h 127.0.0.1 -uroot --batch --skip-column-names -e "$1"; }

sql "drop database if exists $db; create database $db"
trap 'kill "$idle_pid" 2>/dev/null || true; sql "drop database if exists $db"' EXIT
sql "use $db;
create table accounts (id int primary key, name varchar(100) not null);
create table contacts (id int primary key, account_id int not null, email varchar(100) not null, name varchar(100));
create table deals (id int primary key, account_id int not null, amount decimal(12,2) not null,
                    stage varchar(10) not null, note text);
insert into accounts select seq, concat('account ', seq) from seq_1_to_5000;
insert into contacts select seq, 1 + seq % 5000, concat('c', seq, '@example.com'), concat('contact ', seq)
  from seq_1_to_200000;
insert into deals select seq, 1 + seq % 5000, seq % 100000, elt(1 + seq % 3, 'open', 'won', 'lost'), repeat('x', 200)
  from seq_1_to_100000;
analyze table accounts, contacts, deals;"

# The workload: lookups without an index, a report that sorts text on disk.
for i in $(seq 200); do echo "select id, name from contacts where email = 'c$((i * 37))@example.com';"; done |
    mysql -h 127.0.0.1 -uroot "$db"
for i in $(seq 60); do
    echo "select a.name, d.note, sum(d.amount) from deals d join accounts a on a.id = d.account_id
          where d.stage = 'won' group by a.name, d.note order by 3 desc limit 10;"
done | mysql -h 127.0.0.1 -uroot "$db" >/dev/null
# An application that forgot to commit.
(echo "begin; update deals set stage = 'won' where id = 1; select sleep(600);" | mysql -h 127.0.0.1 -uroot "$db") &
idle_pid=$!
sleep 2

mysqltuner --user root --nocolor --forcemem "$(($(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024))" \
    >target/bench/mysqltuner.txt 2>&1 || true
"$perfsage" run --mysql "mysql://root@127.0.0.1:3306/$db" --format json >target/bench/perfsage-mariadb.json || true

echo "== MySQLTuner: warnings and recommendations"
grep -E '^\[!!\]|^    ' target/bench/mysqltuner.txt || true
sed -n '/General recommendations/,$p' target/bench/mysqltuner.txt
echo "== perfsage: database findings"
python3 - target/bench/perfsage-mariadb.json <<'PY'
import json, sys
report = json.load(open(sys.argv[1]))
for f in report["findings"]:
    if f["category"] and any(w in f["rule"] for w in ("db-", "missing-index", "slow-queries", "long-transactions", "vacuum", "temp-spill")):
        actions = ", ".join(a["id"] for a in f["actions"])
        print(f"{f['severity']:9} {f['rule']:32} {f['target'][:60]:60} [{actions}]")
PY
