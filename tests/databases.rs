//! End-to-end tests of the database sources against the real servers on this
//! machine (PostgreSQL on 127.0.0.1:5432 with trust auth, MariaDB on
//! 127.0.0.1:3306 as root without a password): each test creates its own
//! uniquely named database (and role or user), runs a small CRM workload,
//! collects with `perfsage`, checks the numbers, and drops everything in a
//! `Drop` guard, so a failing assertion leaves nothing behind.

use std::sync::atomic::{AtomicU32, Ordering};

use crate::support::db::{StalledServer, mariadb_addr, mariadb_at, postgres_addr, runtime};
use crate::support::*;
use serde_json::Value;

/// The PostgreSQL server as its superuser, without a database.
fn pg_admin() -> String {
    format!("postgresql://postgres@{}", postgres_addr())
}

/// The MariaDB server as root, without a default database.
fn my_admin() -> String {
    format!("mysql://root@{}", mariadb_addr())
}

/// Run statements on MariaDB as root; the last one's rows.
fn my(statements: &[String]) -> Vec<Vec<String>> {
    mariadb_at(&my_admin(), statements)
}

fn unique(prefix: &str) -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    format!("perfsage_{prefix}_{}_{}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed))
}

/// A live PostgreSQL session; its runtime drives the connection while the test holds it.
struct PgSession {
    runtime: tokio::runtime::Runtime,
    client: tokio_postgres::Client,
}

impl PgSession {
    fn open(url: &str) -> Self {
        let runtime = runtime();
        let client = runtime.block_on(async {
            let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls).await.unwrap();
            tokio::spawn(connection);
            client
        });
        PgSession { runtime, client }
    }

    fn run(&self, sql: &str) {
        self.runtime.block_on(self.client.batch_execute(sql)).unwrap_or_else(|e| panic!("{sql}: {e:?}"));
    }

    fn number(&self, sql: &str) -> i64 {
        self.runtime.block_on(self.client.query_one(sql, &[])).unwrap().get(0)
    }

    fn backend_pid(&self) -> i64 {
        self.number("select pg_backend_pid()::int8")
    }
}

/// A throwaway PostgreSQL database (and maybe role) with the CRM schema, dropped on drop.
struct PgDatabase {
    name: String,
    role: Option<String>,
}

impl PgDatabase {
    fn create() -> Self {
        let name = unique("pg");
        PgSession::open(&format!("{}/postgres", pg_admin())).run(&format!("create database {name}"));
        let db = PgDatabase { name, role: None };
        db.session().run(
            "create table accounts (id int primary key, name text not null);
             create table contacts (id int primary key, account_id int not null references accounts, email text);
             create table deals (id int primary key, account_id int not null references accounts,
                                 amount numeric not null, stage text not null);
             insert into accounts select g, 'account ' || g from generate_series(1, 1000) g;
             insert into contacts select g, 1 + g % 1000, 'c' || g || '@example.com' from generate_series(1, 3000) g;
             insert into deals select g, 1 + g % 1000, g * 10, (array['open', 'won', 'lost'])[1 + g % 3]
               from generate_series(1, 5000) g;
             analyze;",
        );
        db
    }

    fn url(&self, user: &str) -> String {
        format!("postgresql://{user}@{}/{}", postgres_addr(), self.name)
    }

    fn session(&self) -> PgSession {
        PgSession::open(&self.url("postgres"))
    }
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        let admin = PgSession::open(&format!("{}/postgres", pg_admin()));
        admin.run(&format!("drop database if exists {} with (force)", self.name));
        if let Some(role) = &self.role {
            admin.run(&format!("drop role if exists {role}"));
        }
    }
}

/// `perfsage snapshot -o -` with extra arguments: (exit code, snapshot, stderr).
fn snapshot(args: &[&str]) -> (Option<i32>, Value, String) {
    let cache = tempfile::tempdir().unwrap();
    let out = output(perfsage(cache.path()).args(["snapshot", "-o", "-", "--window", "100ms"]).args(args));
    (out.status.code(), json(&out), stderr(&out))
}

fn table<'a>(snapshot: &'a Value, name: &str) -> &'a Value {
    let tables = snapshot["databases"][0]["tables"].as_array().expect("tables");
    tables.iter().find(|t| t["name"] == name).unwrap_or_else(|| panic!("no table {name} in {tables:?}"))
}

fn status(snapshot: &Value, name: &str) -> f64 {
    let list = snapshot["databases"][0]["status"].as_array().expect("status");
    list.iter().find(|v| v["name"] == name).unwrap_or_else(|| panic!("no status {name}"))["value"].as_f64().unwrap()
}

#[test]
fn postgres_statistics_follow_a_real_workload() {
    let db = PgDatabase::create();
    let label = format!("postgresql:{}/{}", postgres_addr(), db.name);
    let (code, before, _) = snapshot(&["--postgres", &db.url("postgres")]);
    assert_eq!(code, Some(0));
    let scans_before = table(&before, "public.deals")["seq_scans"].as_u64().unwrap();

    let workload = db.session();
    workload.run(
        "select count(*) from deals where stage = 'won';
         select count(*) from deals where stage = 'lost';
         select count(*) from deals where amount > 100;
         select pg_stat_force_next_flush();",
    );
    let idle = db.session();
    idle.run("begin; select count(*) from accounts;");

    // The source also comes from the rule pack's [sources].
    let dir = tempfile::tempdir().unwrap();
    let pack = dir.path().join("pack.toml");
    std::fs::write(&pack, format!("[sources]\npostgres = [\"{}\"]\n", db.url("postgres"))).unwrap();
    let (code, after, stderr) = snapshot(&["-c", pack.to_str().unwrap()]);
    assert_eq!(code, Some(0));

    assert!(after["meta"]["sources"].as_array().unwrap().iter().any(|s| s == label.as_str()), "{}", after["meta"]);
    assert_eq!(after["meta"]["sources"][0], "system", "the system sections are still there");
    assert!(after["cpu"].is_object());
    let database = &after["databases"][0];
    assert_eq!(database["engine"], "postgresql");
    assert_eq!(database["name"], db.name.as_str());
    let deals = table(&after, "public.deals");
    assert!(deals["seq_scans"].as_u64().unwrap() >= scans_before + 3, "{deals} after {scans_before}");
    assert_eq!(deals["rows_estimate"], 5000);
    assert!(deals["seq_rows_read"].as_u64().unwrap() >= 3 * 5000);
    assert!(deals["size_bytes"].as_u64().unwrap() > 0);
    assert_eq!(table(&after, "public.contacts")["rows_estimate"], 3000);
    let max_connections = workload.number("select current_setting('max_connections')::int8");
    assert_eq!(database["connections_max"].as_i64().unwrap(), max_connections);
    assert!(database["connections_used"].as_u64().unwrap() >= 3, "this test holds two sessions, perfsage one");
    assert!(database["idle_in_transaction"].as_u64().unwrap() >= 1);
    let idle_pid = idle.backend_pid();
    let held = database["transactions"].as_array().unwrap().iter().find(|t| t["pid"] == idle_pid);
    let held = held.unwrap_or_else(|| panic!("open transaction {idle_pid} missing: {}", database["transactions"]));
    assert_eq!(held["state"], "idle in transaction");
    assert!(held["query"].as_str().unwrap().contains("accounts"));
    let ratio = database["cache_hit_ratio"].as_f64().unwrap();
    assert!((0.0..=1.0).contains(&ratio));
    assert!(status(&after, "shared_buffers") >= 128.0 * 1024.0, "memory settings are in bytes");

    // pg_stat_statements is never installed in a fresh database: the rest is still there.
    assert_eq!(after["queries"], serde_json::json!([]));
    assert!(stderr.contains("pg_stat_statements is not installed"), "{stderr}");
    assert!(stderr.contains("shared_preload_libraries") && stderr.contains("CREATE EXTENSION pg_stat_statements"));
}

#[test]
fn postgres_role_without_statistics_rights_reads_what_it_may() {
    let mut db = PgDatabase::create();
    let role = unique("role");
    let admin = db.session();
    admin.run(&format!("create role {role} login; revoke select on pg_catalog.pg_stat_user_tables from public;"));
    db.role = Some(role.clone());
    admin.run("begin; select count(*) from deals;"); // another role's open transaction

    let (code, snap, stderr) = snapshot(&["--postgres", &db.url(&role)]);
    assert_eq!(code, Some(0), "a view it may not read is a warning, not a failure");
    let database = &snap["databases"][0];
    assert!(database["connections_used"].as_u64().unwrap() >= 2);
    assert!(database["connections_max"].as_u64().unwrap() > 0);
    assert_eq!(database["tables"], serde_json::json!([]));
    assert!(stderr.contains("cannot read pg_stat_user_tables: permission denied"), "{stderr}");
    let admin_pid = admin.backend_pid();
    let seen = database["transactions"].as_array().unwrap().iter().any(|t| t["pid"] == admin_pid);
    assert!(!seen, "another role's transaction is hidden: {}", database["transactions"]);
    assert!(stderr.contains("of other roles are hidden") && stderr.contains("GRANT pg_read_all_stats"), "{stderr}");
}

#[test]
fn unreachable_servers_are_failed_sources_and_the_run_goes_on() {
    let cache = tempfile::tempdir().unwrap();
    let out = output(perfsage(cache.path()).args([
        "run",
        "--window",
        "100ms",
        "--format",
        "json",
        "--postgres",
        "postgresql://postgres@127.0.0.1:1/shop",
        "--mysql",
        "mysql://root@127.0.0.1:1/shop",
        "--postgres",
        "postgresql://postgres@127.0.0.1:5432/db?bogus=1",
    ]));
    assert_eq!(out.status.code(), Some(3), "a failed source makes the run incomplete");
    let report = json(&out);
    assert_eq!(report["snapshot_meta"]["sources"], serde_json::json!(["system"]));
    let plugins = report["plugins"].as_array().unwrap();
    let status = |name: &str| plugins.iter().find(|p| p["name"] == name).unwrap()["status"].as_str().unwrap();
    for system in ["cpu", "memory", "disk", "network"] {
        assert_eq!(status(system), "ok", "the plugins still checked the system sections");
    }
    assert_eq!(status("missing-index"), "skipped", "no database section, no database rule");
    assert!(plugins.iter().all(|p| p["status"] != "failed"));
    let stderr = stderr(&out);
    assert!(stderr.contains("cannot connect to postgresql:127.0.0.1:1/shop"), "{stderr}");
    assert!(stderr.contains("cannot connect to mysql:127.0.0.1:1/shop"), "{stderr}");
    assert!(stderr.matches("Connection refused").count() >= 2, "{stderr}");
    assert!(stderr.contains("invalid postgresql URL"), "{stderr}");
}

/// A throwaway MariaDB database (and maybe user) with the CRM schema, dropped on drop.
struct MyDatabase {
    name: String,
    user: Option<String>,
}

fn my_value(sql: &str) -> String {
    my(&[sql.to_owned()])[0][0].clone()
}

impl MyDatabase {
    fn create() -> Self {
        let name = unique("my");
        my(&[format!("create database {name}")]);
        let db = MyDatabase { name, user: None };
        let n = &db.name;
        my(&[
            format!("create table {n}.accounts (id int primary key, name text not null)"),
            format!("create table {n}.contacts (id int primary key, account_id int not null, email text)"),
            format!(
                "create table {n}.deals (id int primary key, account_id int not null, amount decimal(12,2) not null,
                                         stage varchar(10) not null)"
            ),
            format!("insert into {n}.accounts select seq, concat('account ', seq) from {n}.seq_1_to_1000"),
            format!(
                "insert into {n}.contacts select seq, 1 + seq % 1000, concat('c', seq, '@example.com') from {n}.seq_1_to_3000"
            ),
            format!(
                "insert into {n}.deals select seq, 1 + seq % 1000, seq * 10, elt(1 + seq % 3, 'open', 'won', 'lost')
                 from {n}.seq_1_to_5000"
            ),
            format!("analyze table {n}.accounts, {n}.contacts, {n}.deals"),
        ]);
        db
    }

    fn url(&self) -> String {
        format!("{}/{}", my_admin(), self.name)
    }
}

impl Drop for MyDatabase {
    fn drop(&mut self) {
        let mut statements = vec![format!("drop database if exists {}", self.name)];
        if let Some(user) = &self.user {
            statements.push(format!("drop user if exists '{user}'@'%'"));
        }
        my(&statements);
    }
}

#[test]
fn mariadb_statistics_follow_a_real_workload() {
    let db = MyDatabase::create();
    let (code, before, _) = snapshot(&["--mysql", &db.url()]);
    assert_eq!(code, Some(0));
    let n = &db.name;
    my(&[
        format!("select count(*) from {n}.deals where stage = 'won'"),
        format!("select count(*) from {n}.deals where stage = 'lost'"),
        format!("select count(*) from {n}.deals where amount > 100"),
    ]);
    let (code, after, stderr) = snapshot(&["--mysql", &db.url()]);
    assert_eq!(code, Some(0));

    let label = format!("mysql:{}/{n}", mariadb_addr());
    assert!(after["meta"]["sources"].as_array().unwrap().iter().any(|s| s == label.as_str()), "{}", after["meta"]);
    let database = &after["databases"][0];
    assert_eq!(database["engine"], "mariadb");
    assert_eq!(database["name"], n.as_str());
    assert!(status(&after, "Select_scan") >= status(&before, "Select_scan") + 3.0);
    assert_eq!(database["connections_max"].as_u64().unwrap().to_string(), my_value("select @@max_connections"));
    assert!(database["connections_used"].as_u64().unwrap() >= 1);
    assert_eq!(status(&after, "innodb_buffer_pool_size").to_string(), my_value("select @@innodb_buffer_pool_size"));
    for counter in
        ["Threads_running", "Created_tmp_tables", "Created_tmp_disk_tables", "Select_full_join", "Slow_queries"]
    {
        status(&after, counter);
    }
    let ratio = database["cache_hit_ratio"].as_f64().unwrap();
    assert!((0.0..=1.0).contains(&ratio));
    let deals = table(&after, &format!("{n}.deals"))["rows_estimate"].as_u64().unwrap();
    assert!((2500..=10000).contains(&deals), "InnoDB estimates rows: {deals} for 5000");
    assert!(table(&after, &format!("{n}.contacts"))["size_bytes"].as_u64().unwrap() > 0);
    assert_eq!(database["tables"].as_array().unwrap().len(), 3, "only the URL's database");
    if my_value("select @@performance_schema") == "0" {
        assert!(stderr.contains("performance_schema is off") && stderr.contains("performance_schema=ON"), "{stderr}");
        assert_eq!(after["queries"], serde_json::json!([]));
    }
}

#[test]
fn mariadb_user_without_privileges_reads_what_it_may() {
    let mut db = MyDatabase::create();
    let user = unique("user");
    my(&[format!("create user '{user}'@'%'")]);
    db.user = Some(user.clone());

    let (code, snap, stderr) = snapshot(&["--mysql", &format!("mysql://{user}@{}", mariadb_addr())]);
    assert_eq!(code, Some(0), "a view it may not read is a warning, not a failure");
    let database = &snap["databases"][0];
    assert_eq!(database["connections_max"].as_u64().unwrap().to_string(), my_value("select @@max_connections"));
    assert!(status(&snap, "Threads_connected") >= 1.0);
    let tables = database["tables"].as_array().unwrap();
    assert!(!tables.iter().any(|t| t["name"].as_str().unwrap().starts_with(&db.name)), "no rights, no tables");
    assert!(stderr.contains("PROCESS privilege"), "{stderr}");
}

#[test]
fn mariadb_temporary_tables_on_disk_reach_the_temp_spill_rule() {
    let db = MyDatabase::create();
    let n = &db.name;
    let disk_tables = || -> f64 {
        my_value("select variable_value from information_schema.global_status where variable_name = 'CREATED_TMP_DISK_TABLES'")
            .parse()
            .unwrap()
    };
    let before = disk_tables();
    // A GROUP BY over a text column: MariaDB builds the temporary table on
    // disk (Aria) whatever its size.
    my(&(0..20)
        .map(|_| format!("select email, count(*) from {n}.contacts group by email order by 2 desc limit 1"))
        .collect::<Vec<_>>());
    assert!(disk_tables() >= before + 20.0, "each grouped query made a temporary table on disk");

    // The share is server-wide and other tests move it; a zero threshold
    // makes the finding certain, and the action's sizes come from the server.
    let dir = tempfile::tempdir().unwrap();
    let pack = dir.path().join("pack.toml");
    std::fs::write(&pack, "[plugins.temp-spill]\nparams = { max_disk_share = 0.0, min_tmp_tables = 1 }\n").unwrap();
    let cache = tempfile::tempdir().unwrap();
    let out = output(perfsage(cache.path()).args([
        "run",
        "--window",
        "100ms",
        "--mysql",
        &db.url(),
        "-c",
        pack.to_str().unwrap(),
        "--format",
        "json",
    ]));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let report = json(&out);
    let finding = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["rule"] == "temp-spill/disk-tables")
        .unwrap_or_else(|| panic!("no temp-spill finding: {}", report["findings"]));
    assert_eq!(finding["target"], format!("mariadb {n}"));
    let limit: u64 = my_value("select least(@@tmp_table_size, @@max_heap_table_size)").parse().unwrap();
    let mib = 1u64 << 20;
    let target = (2 * limit).min(256 * mib) / mib * mib;
    let actions: Vec<&str> = finding["actions"].as_array().unwrap().iter().map(|a| a["id"].as_str().unwrap()).collect();
    if target > limit {
        assert_eq!(actions, ["db.raise-tmp-table-size", "db.find-spilling-statements"]);
        let detail = finding["actions"][0]["detail"].as_str().unwrap();
        assert!(detail.contains(&format!("SET GLOBAL tmp_table_size = {target};")), "{detail}");
    } else {
        assert_eq!(actions, ["db.find-spilling-statements"], "the limits are already at the largest size suggested");
    }
}

#[test]
fn servers_that_accept_and_stall_time_out_naming_the_source_the_timeout_and_the_step() {
    let stalled = StalledServer::start();
    let pg = format!("postgresql://postgres@127.0.0.1:{}/shop", stalled.port);
    let my = format!("mysql://root@127.0.0.1:{}/shop", stalled.port);
    let timeout = std::time::Duration::from_secs(2);
    let started = std::time::Instant::now();
    let (code, snap, stderr) = snapshot(&["--source-timeout", "2s", "--postgres", &pg, "--mysql", &my]);
    let took = started.elapsed();
    assert_eq!(code, Some(3), "a source that timed out makes the run incomplete");
    // Both time out together (the sources run in parallel), well within twice the timeout.
    assert!(took >= timeout && took < 2 * timeout, "the run took {took:?} with a {timeout:?} source timeout");
    let port = stalled.port;
    for label in [format!("postgresql:127.0.0.1:{port}/shop"), format!("mysql:127.0.0.1:{port}/shop")] {
        assert!(stderr.contains(&format!("{label}: timed out after 2 s connecting")), "{label}: {stderr}");
    }
    assert_eq!(snap["meta"]["sources"], serde_json::json!(["system"]), "the run went on without them");
    assert!(snap["cpu"].is_object());
    assert_eq!(stalled.accepted(), 2, "both clients got as far as a connection");

    // The rule pack says the same thing as the flag.
    let stalled = StalledServer::start();
    let dir = tempfile::tempdir().unwrap();
    let pack = dir.path().join("pack.toml");
    let url = format!("postgresql://postgres@127.0.0.1:{}/shop", stalled.port);
    std::fs::write(&pack, format!("[sources]\ntimeout_ms = 1500\npostgres = [\"{url}\"]\n")).unwrap();
    let started = std::time::Instant::now();
    let (code, _, stderr) = snapshot(&["-c", pack.to_str().unwrap()]);
    assert_eq!(code, Some(3));
    assert!(started.elapsed() < std::time::Duration::from_secs(3), "{:?}", started.elapsed());
    assert!(stderr.contains("timed out after 1.5 s connecting"), "{stderr}");
}

#[test]
fn postgres_read_that_blocks_mid_source_times_out_naming_the_view() {
    let db = PgDatabase::create();
    // Another session's exclusive lock: pg_stat_user_tables waits on it for
    // the size of `deals`, the way a migration blocks a monitoring query.
    let migration = db.session();
    migration.run("begin; lock table deals in access exclusive mode");
    let started = std::time::Instant::now();
    let (code, snap, stderr) = snapshot(&["--source-timeout", "2s", "--postgres", &db.url("postgres")]);
    let took = started.elapsed();
    assert_eq!(code, Some(3), "{stderr}");
    assert!(took < std::time::Duration::from_secs(4), "the run took {took:?} with a 2 s source timeout");
    let label = format!("postgresql:{}/{}", postgres_addr(), db.name);
    assert!(stderr.contains(&format!("{label}: timed out after 2 s reading pg_stat_user_tables")), "{stderr}");
    assert_eq!(snap["meta"]["sources"], serde_json::json!(["system"]));
    // The server cancelled perfsage's statement too (its statement_timeout): no
    // session of perfsage is left waiting behind the lock.
    let waiting = || {
        migration.number(
            "select count(*) from pg_stat_activity where application_name = 'perfsage' and wait_event_type = 'Lock'",
        )
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while waiting() > 0 && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert_eq!(waiting(), 0, "perfsage's statement still waits on the server");
    migration.run("rollback");
}

/// The `queries` entry whose text contains `needle`.
fn query<'a>(snapshot: &'a Value, needle: &str) -> &'a Value {
    let queries = snapshot["queries"].as_array().expect("queries");
    queries
        .iter()
        .find(|q| q["text"].as_str().unwrap().contains(needle))
        .unwrap_or_else(|| panic!("no statement with {needle} in {queries:#?}"))
}

fn hints(query: &Value) -> Vec<&str> {
    query["plan_hints"].as_array().unwrap().iter().map(|h| h.as_str().unwrap()).collect()
}

const NEEDS_STATEMENTS: &str = "this test needs per-statement statistics: pg_stat_statements in \
PostgreSQL's shared_preload_libraries and MariaDB's performance_schema on (.ci/databases.sh sets both, restarting the \
servers), or servers of your own that have them, named by PERFSAGE_TEST_POSTGRES / PERFSAGE_TEST_MARIADB";

/// Needs `pg_stat_statements` in `shared_preload_libraries` (`.ci/databases.sh`).
#[test]
fn postgres_statements_that_could_run_user_functions_are_not_explained() {
    let db = PgDatabase::create();
    let session = db.session();
    let preloaded = session.number(
        "select count(*) from pg_settings where name = 'shared_preload_libraries'
                                    and setting like '%pg_stat_statements%'",
    );
    assert_eq!(preloaded, 1, "{NEEDS_STATEMENTS}");
    // A VOLATILE plpgsql function that writes a canary row each time it runs,
    // a SQL function over it, an operator and a view that call it.
    session.run(
        "create extension pg_stat_statements;
         create table canary (n int);
         create function canary_bump(x int) returns int language plpgsql volatile
           as $$ begin insert into canary values (x); return x; end $$;
         create function canary_sql(x int) returns int language sql as 'select canary_bump(x)';
         create function canary_eq(a int, b int) returns bool language plpgsql volatile
           as $$ begin insert into canary values (a); return a = b; end $$;
         create operator === (leftarg = int, rightarg = int, function = canary_eq);
         create view canary_view as select id, canary_bump(id) as bumped from accounts;
         create view canary_view2 as select * from canary_view;
         create type canary_t as (n int);
         create function canary_to(x int) returns canary_t language plpgsql immutable
           as $$ begin return row(x)::canary_t; end $$;
         create cast (int as canary_t) with function canary_to(int);
         select pg_stat_statements_reset(0, (select oid from pg_database where datname = current_database()), 0);",
    );
    session.run(
        "select canary_bump(id) from accounts where id = 1;
         select canary_sql(id) from accounts where id = 2;
         select count(*) from accounts where id === 3;
         select bumped from canary_view2 where id = 4;
         select id::canary_t from accounts where id = 5;
         select count(*) from deals where stage = 'won';",
    );
    let canary = || session.number("select count(*) from canary");
    let before = canary();
    assert!(before >= 4, "the workload itself ran the functions: {before}");

    let (code, snap, stderr) = snapshot(&["--postgres", &db.url("postgres")]);
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(canary(), before, "explaining ran none of the user's code");
    let label = format!("postgresql:{}/{}", postgres_addr(), db.name);
    for (needle, reason) in [
        ("canary_bump(id)", "names public.canary_bump, a function outside pg_catalog"),
        ("canary_sql(id)", "names public.canary_sql"),
        ("===", "uses operator ===, implemented or estimated by a function outside pg_catalog"),
        ("canary_view2", "reads canary_view, whose view, policies or defaults call a function outside pg_catalog"),
        ("::canary_t", "may cast integer to canary_t, a cast done by a function outside pg_catalog"),
    ] {
        assert_eq!(hints(query(&snap, needle)), ["not-explained:user-function"], "{needle}");
        let line = stderr.lines().find(|l| l.contains("not explained") && l.contains(needle));
        let line = line.unwrap_or_else(|| panic!("no note for {needle}: {stderr}"));
        assert!(line.contains(&label) && line.contains(reason), "{needle}: {line}");
    }
    assert_eq!(hints(query(&snap, "from deals")), ["seq-scan:public.deals"], "built-ins only: still explained");
    assert!(!stderr.contains("from deals where"), "{stderr}");
}

/// Needs `performance_schema` on (`.ci/databases.sh`).
#[test]
fn mariadb_statements_that_call_stored_functions_are_not_explained() {
    assert_eq!(my_value("select @@performance_schema"), "1", "{NEEDS_STATEMENTS}");
    let db = MyDatabase::create();
    let n = &db.name;
    my(&[
        format!("create table {n}.canary (n int)"),
        format!(
            "create function {n}.canary_bump(x int) returns int modifies sql data
             begin insert into {n}.canary values (x); return x; end"
        ),
    ]);
    // In the database itself, so the digests carry its schema.
    mariadb_at(
        &db.url(),
        &[
            "select canary_bump(id) from accounts where id = 1".to_owned(),
            "select count(*) from deals where stage = 'won'".to_owned(),
        ],
    );
    let canary = || my_value(&format!("select count(*) from {n}.canary"));
    let before = canary();
    assert_eq!(before, "1", "the workload itself ran the function");

    let (code, snap, stderr) = snapshot(&["--mysql", &db.url()]);
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(canary(), before, "explaining ran none of the user's code");
    let called = query(&snap, "canary_bump");
    assert_eq!(hints(called), ["not-explained:user-function"]);
    let line = stderr.lines().find(|l| l.contains("not explained") && l.contains("canary_bump"));
    let line = line.unwrap_or_else(|| panic!("no note: {stderr}"));
    assert!(line.contains("not a built-in function (a stored function or UDF)"), "{line}");
    let counted = query(&snap, "FROM `deals`");
    assert!(hints(counted).contains(&format!("full-scan:{n}.deals").as_str()), "built-ins only: still explained");
}

#[test]
fn postgres_superuser_is_warned_and_a_monitoring_role_is_not() {
    let mut db = PgDatabase::create();
    let (code, _, stderr) = snapshot(&["--postgres", &db.url("postgres")]);
    assert_eq!(code, Some(0));
    let warning = stderr.lines().find(|l| l.contains("superuser")).unwrap_or_else(|| panic!("{stderr}"));
    assert!(warning.contains("the superuser role postgres") && warning.contains("GRANT pg_monitor"), "{warning}");

    let role = unique("monitor");
    db.session().run(&format!("create role {role} login; grant pg_read_all_stats to {role}"));
    db.role = Some(role.clone());
    let (code, snap, stderr) = snapshot(&["--postgres", &db.url(&role)]);
    assert_eq!(code, Some(0));
    assert!(snap["databases"][0]["connections_max"].as_u64().unwrap() > 0, "the monitoring role reads");
    assert!(!stderr.contains("superuser"), "{stderr}");
}

#[test]
fn mariadb_superuser_is_warned_and_a_process_only_user_is_not() {
    let mut db = MyDatabase::create();
    let (code, _, stderr) = snapshot(&["--mysql", &db.url()]);
    assert_eq!(code, Some(0));
    let warning = stderr.lines().find(|l| l.contains("superuser")).unwrap_or_else(|| panic!("{stderr}"));
    assert!(warning.contains("root@") && warning.contains("GRANT PROCESS"), "{warning}");

    let user = unique("monitor");
    my(&[format!("create user '{user}'@'%'"), format!("grant process on *.* to '{user}'@'%'")]);
    db.user = Some(user.clone());
    let (code, snap, stderr) = snapshot(&["--mysql", &format!("mysql://{user}@{}", mariadb_addr())]);
    assert_eq!(code, Some(0));
    assert!(snap["databases"][0]["connections_max"].as_u64().unwrap() > 0, "the PROCESS-only user reads");
    assert!(!stderr.contains("superuser"), "{stderr}");
}
