//! The commonest database fix end to end, against the real servers on this
//! machine: a CRM schema whose contacts are looked up by an unindexed e-mail
//! column, a workload that makes the lookup a real statement class
//! (`pg_stat_statements`, performance_schema digests), then `perfsage plan`
//! (shows the DDL, changes nothing), `perfsage apply` (creates the index, the
//! hook verifies it, the re-collected plan clears the finding) and the hook's
//! rollback (drops it). Each test creates its own database and drops it in a
//! `Drop` guard.
//!
//! Needs `pg_stat_statements` in PostgreSQL's `shared_preload_libraries` and
//! MariaDB's `performance_schema` on; `.ci/databases.sh` sets both.

use std::path::Path;
use std::process::{Command, Output, Stdio};

use crate::support::db::{MARIADB as MY_ADMIN, mariadb as my, mariadb_at as my_at, runtime};
use crate::support::*;
use serde_json::Value;

const PG_ADMIN: &str = "host=127.0.0.1 port=5432 user=postgres dbname=postgres";
const CONTACTS: u32 = 60_000;
const LOOKUPS: u32 = 40;

fn unique(prefix: &str) -> String {
    format!("perfsage_{prefix}_{}", std::process::id())
}

fn pg(dbname: &str, work: impl AsyncFnOnce(&tokio_postgres::Client)) {
    runtime().block_on(async {
        let config = format!("host=127.0.0.1 port=5432 user=postgres dbname={dbname}");
        let (client, connection) = tokio_postgres::connect(&config, tokio_postgres::NoTls).await.unwrap();
        let connection = tokio::spawn(connection);
        work(&client).await;
        drop(client);
        let _ = connection.await;
    });
}

fn pg_admin(sql: &str) {
    runtime().block_on(async {
        let (client, connection) = tokio_postgres::connect(PG_ADMIN, tokio_postgres::NoTls).await.unwrap();
        tokio::spawn(connection);
        client.batch_execute(sql).await.unwrap_or_else(|e| panic!("{sql}: {e:?}"));
    });
}

/// The indexes of a PostgreSQL table, by name.
fn pg_indexes(dbname: &str, table: &str) -> Vec<String> {
    let mut names = Vec::new();
    pg(dbname, async |client| {
        let rows = client
            .query("select indexname::text from pg_indexes where tablename = $1 order by 1", &[&table])
            .await
            .unwrap();
        names = rows.iter().map(|r| r.get(0)).collect();
    });
    names
}

struct PgCrm {
    name: String,
}

impl PgCrm {
    /// accounts, contacts (no index on email), deals, activities; with rows.
    fn create() -> Self {
        let name = unique("pgidx");
        pg_admin(&format!("drop database if exists {name} with (force)"));
        pg_admin(&format!("create database {name}"));
        let crm = PgCrm { name };
        pg(&crm.name, async |client| {
            let sql = format!(
                "create extension pg_stat_statements;
                 create table accounts (id int primary key, name text not null);
                 create table contacts (id int primary key, account_id int not null references accounts,
                                        email text not null, name text);
                 create table deals (id int primary key, account_id int not null references accounts,
                                     amount numeric not null, stage text not null);
                 create table activities (id int primary key, contact_id int not null references contacts,
                                          kind text not null, done boolean not null);
                 insert into accounts select g, 'account ' || g from generate_series(1, 2000) g;
                 insert into contacts select g, 1 + g % 2000, 'c' || g || '@example.com', 'contact ' || g
                   from generate_series(1, {CONTACTS}) g;
                 insert into deals select g, 1 + g % 2000, g * 10, (array['open', 'won', 'lost'])[1 + g % 3]
                   from generate_series(1, 10000) g;
                 insert into activities select g, 1 + g % {CONTACTS}, 'call', g % 2 = 0
                   from generate_series(1, 20000) g;
                 analyze;
                 select pg_stat_statements_reset(0, (select oid from pg_database where datname = current_database()), 0);"
            );
            client.batch_execute(&sql).await.unwrap();
        });
        crm
    }

    /// The CRM's contact lookup, as the application runs it (a prepared statement).
    fn look_up_contacts(&self) {
        pg(&self.name, async |client| {
            let lookup = client.prepare("select id, name from contacts where email = $1").await.unwrap();
            for i in 0..LOOKUPS {
                let email = format!("c{}@example.com", 1 + i * 997 % CONTACTS);
                assert_eq!(client.query(&lookup, &[&email]).await.unwrap().len(), 1);
            }
            client.batch_execute("select pg_stat_force_next_flush()").await.unwrap();
        });
    }

    fn url(&self) -> String {
        format!("postgresql://postgres@127.0.0.1:5432/{}", self.name)
    }
}

impl Drop for PgCrm {
    fn drop(&mut self) {
        pg_admin(&format!("drop database if exists {} with (force)", self.name));
    }
}

/// `perfsage COMMAND` over a database, with the default rule pack and its own state.
fn perfsage_db(state: &Path, command: &str, source: &[&str]) -> Command {
    let mut cmd = perfsage(&state.join("cache"));
    cmd.arg(command).args(["--window", "100ms"]).args(source);
    if command != "run" {
        cmd.arg("--state-dir").arg(state.join("state"));
    }
    cmd.stdin(Stdio::null())
        // The index hooks connect with the clients' own variables, passed through by the pack.
        .env("PGHOST", "127.0.0.1")
        .env("PGUSER", "postgres")
        .env("MYSQL_HOST", "127.0.0.1")
        .env("MYSQL_USER", "root");
    cmd
}

fn index_step(plan: &Value) -> &Value {
    let steps = plan["steps"].as_array().expect("steps");
    steps
        .iter()
        .find(|s| s["action"] == "db.create-index")
        .unwrap_or_else(|| panic!("no db.create-index step in {}", serde_json::to_string_pretty(plan).unwrap()))
}

/// The run id of the last apply journaled in `state` (its `PERFSAGE_RUN`).
fn last_run(state: &Path) -> String {
    let text = std::fs::read_to_string(state.join("state/journal.jsonl")).unwrap();
    let last: Value = serde_json::from_str(text.lines().last().unwrap()).unwrap();
    last["run"].as_str().unwrap().to_string()
}

/// Run a built-in hook script by hand, in `phase` of apply run `run`, with the
/// parameters and state directory `step` planned.
fn run_hook(script: &str, phase: &str, run: &str, step: &Value) -> Output {
    let mut cmd = Command::new(repo_root().join("rules/hooks").join(script));
    cmd.env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("PERFSAGE_PHASE", phase)
        .env("PERFSAGE_DRY_RUN", "0")
        .env("PERFSAGE_RUN", run);
    for (key, value) in step["apply"]["env"].as_object().unwrap() {
        if key.starts_with("PERFSAGE_PARAM_") || key == "PERFSAGE_STATE_DIR" {
            cmd.env(key, value.as_str().unwrap());
        }
    }
    cmd.env("PGHOST", "127.0.0.1").env("PGUSER", "postgres").env("MYSQL_HOST", "127.0.0.1").env("MYSQL_USER", "root");
    output(&mut cmd)
}

#[test]
fn postgres_missing_index_is_planned_applied_verified_and_rolled_back() {
    let crm = PgCrm::create();
    crm.look_up_contacts();
    let url = crm.url();
    let source = ["--postgres", url.as_str()];
    let state = tempfile::tempdir().unwrap();

    // The finding: the lookup's generic plan scans contacts.
    let out = output(perfsage_db(state.path(), "run", &source).args(["--format", "json"]));
    let report = json(&out);
    let finding = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["rule"] == "missing-index/statement")
        .unwrap_or_else(|| panic!("no missing-index finding: {}\n{}", report["findings"], stderr(&out)));
    assert_eq!(finding["target"], format!("{} public.contacts (email)", crm.name));

    // plan: the DDL, from the hook's own dry run; nothing changes.
    let out = output(perfsage_db(state.path(), "plan", &source).args(["--format", "json"]));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let plan = json(&out);
    let step = index_step(&plan);
    assert_eq!(step["hook"], "pg-create-index");
    assert_eq!(step["params"]["table"], "public.contacts");
    assert_eq!(step["params"]["columns"], "email");
    assert_eq!(step["apply"]["env"]["PGHOST"], "127.0.0.1", "passed through from perfsage's environment");
    let out = output(&mut perfsage_db(state.path(), "plan", &source));
    let text = stdout(&out);
    assert!(
        text.contains("would run on database")
            && text.contains("CREATE INDEX CONCURRENTLY perfsage_contacts_email_idx ON public.contacts (email)"),
        "{text}"
    );
    assert_eq!(pg_indexes(&crm.name, "contacts"), ["contacts_pkey"], "plan changed nothing");

    // apply: the index is built, the hook verifies it, the re-collected plan clears the finding.
    let out = output(perfsage_db(state.path(), "apply", &source).args(["--action", "db.create-index", "--yes"]));
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{text}\n{}", stderr(&out));
    assert!(text.contains("cleared"), "{text}");
    assert_eq!(pg_indexes(&crm.name, "contacts"), ["contacts_pkey", "perfsage_contacts_email_idx"]);
    let out = output(perfsage_db(state.path(), "run", &source).args(["--format", "json"]));
    let after = json(&out);
    assert!(
        !after["findings"].as_array().unwrap().iter().any(|f| f["rule"] == "missing-index/statement"),
        "{}",
        after["findings"]
    );

    // rollback: the hook drops the index it created, and only that.
    let run = last_run(state.path());
    let rolled = run_hook("pg-create-index.sh", "rollback", &run, step);
    assert!(rolled.status.success(), "{}", stderr(&rolled));
    assert_eq!(pg_indexes(&crm.name, "contacts"), ["contacts_pkey"]);
    let again = run_hook("pg-create-index.sh", "rollback", &run, step);
    assert_eq!(again.status.code(), Some(2), "a second rollback has nothing of its own to drop");
    assert!(stderr(&again).contains("was not created by run"), "{}", stderr(&again));
}

fn my_indexes(schema: &str, table: &str) -> Vec<String> {
    my(&[format!(
        "select distinct index_name from information_schema.STATISTICS
         where table_schema = '{schema}' and table_name = '{table}' order by 1"
    )])
    .into_iter()
    .map(|row| row[0].clone())
    .collect()
}

struct MyCrm {
    name: String,
}

impl MyCrm {
    fn create() -> Self {
        let name = unique("myidx");
        let n = &name;
        my(&[
            format!("drop database if exists {n}"),
            format!("create database {n}"),
            format!("create table {n}.accounts (id int primary key, name varchar(100) not null)"),
            format!(
                "create table {n}.contacts (id int primary key, account_id int not null,
                                            email varchar(100) not null, name varchar(100))"
            ),
            format!("insert into {n}.accounts select seq, concat('account ', seq) from {n}.seq_1_to_2000"),
            format!(
                "insert into {n}.contacts select seq, 1 + seq % 2000, concat('c', seq, '@example.com'),
                 concat('contact ', seq) from {n}.seq_1_to_{CONTACTS}"
            ),
            format!("analyze table {n}.accounts, {n}.contacts"),
        ]);
        MyCrm { name }
    }

    /// The contact lookup, with literals as an ORM sends them: one digest class.
    fn look_up_contacts(&self) {
        let lookups: Vec<String> = (0..LOOKUPS)
            .map(|i| format!("select id, name from contacts where email = 'c{}@example.com'", 1 + i * 997 % CONTACTS))
            .collect();
        my_at(&self.url(), &lookups);
    }

    fn url(&self) -> String {
        format!("{MY_ADMIN}/{}", self.name)
    }
}

impl Drop for MyCrm {
    fn drop(&mut self) {
        my(&[format!("drop database if exists {}", self.name)]);
    }
}

#[test]
fn mariadb_missing_index_is_planned_applied_verified_and_rolled_back() {
    let crm = MyCrm::create();
    crm.look_up_contacts();
    let url = crm.url();
    let source = ["--mysql", url.as_str()];
    let state = tempfile::tempdir().unwrap();

    let out = output(perfsage_db(state.path(), "plan", &source).args(["--format", "json"]));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let plan = json(&out);
    let step = index_step(&plan);
    assert_eq!(step["hook"], "mysql-create-index");
    assert_eq!(step["target"], format!("{0} {0}.contacts (email)", crm.name));
    assert_eq!(step["params"]["columns"], "email");
    let text = stdout(&output(&mut perfsage_db(state.path(), "plan", &source)));
    assert!(
        text.contains("would run: ALTER TABLE") && text.contains("ADD INDEX `perfsage_contacts_email_idx`"),
        "{text}"
    );
    assert_eq!(my_indexes(&crm.name, "contacts"), ["PRIMARY"], "plan changed nothing");

    let out = output(perfsage_db(state.path(), "apply", &source).args(["--action", "db.create-index", "--yes"]));
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{text}\n{}", stderr(&out));
    assert!(text.contains("cleared"), "{text}");
    assert_eq!(my_indexes(&crm.name, "contacts"), ["perfsage_contacts_email_idx", "PRIMARY"]);

    let rolled = run_hook("mysql-create-index.sh", "rollback", &last_run(state.path()), step);
    assert!(rolled.status.success(), "{}", stderr(&rolled));
    assert_eq!(my_indexes(&crm.name, "contacts"), ["PRIMARY"]);
}

#[test]
fn pg_create_index_leaves_an_index_it_did_not_create_and_bounds_its_statements() {
    let name = unique("pgown");
    pg_admin(&format!("drop database if exists {name} with (force)"));
    pg_admin(&format!("create database {name}"));
    struct Dropped(String);
    impl Drop for Dropped {
        fn drop(&mut self) {
            pg_admin(&format!("drop database if exists {} with (force)", self.0));
        }
    }
    let _db = Dropped(name.clone());
    pg(&name, async |client| {
        client
            .batch_execute(
                "create table t (id int primary key, email text);
                 insert into t select g, 'u' || g from generate_series(1, 1000) g;
                 create index perfsage_t_email_idx on t (email);",
            )
            .await
            .unwrap();
    });
    let state = tempfile::tempdir().unwrap();
    let step = serde_json::json!({"apply": {"env": {
        "PERFSAGE_PARAM_DATABASE": name,
        "PERFSAGE_PARAM_TABLE": "public.t",
        "PERFSAGE_PARAM_COLUMNS": "email",
        "PERFSAGE_PARAM_INDEX": "perfsage_t_email_idx",
        "PERFSAGE_STATE_DIR": state.path().display().to_string(),
    }}});

    // Someone else's index of the same name: apply leaves it, rollback refuses to drop it.
    let applied = run_hook("pg-create-index.sh", "apply", "r1", &step);
    assert!(applied.status.success(), "{}", stderr(&applied));
    assert!(stdout(&applied).contains("already exists and is valid"));
    let rolled = run_hook("pg-create-index.sh", "rollback", "r1", &step);
    assert_eq!(rolled.status.code(), Some(2));
    assert!(stderr(&rolled).contains("was not created by run r1"), "{}", stderr(&rolled));
    assert_eq!(pg_indexes(&name, "t"), ["perfsage_t_email_idx", "t_pkey"], "left alone");

    // A build blocked by a lock gives up on the server's own timeout, well before the hook's budget.
    pg(&name, async |client| client.batch_execute("drop index perfsage_t_email_idx").await.unwrap());
    let mut blocker = Command::new("psql")
        .args(["-X", "-q", "-h", "127.0.0.1", "-U", "postgres", "-d", &name, "-c"])
        .arg("begin; lock table t in share update exclusive mode; select pg_sleep(60); commit;")
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let mut locked = false;
    for _ in 0..500 {
        pg(&name, async |client| {
            let rows = client
                .query("select 1 from pg_locks l join pg_class c on c.oid = l.relation where c.relname = 't' and l.granted and l.mode = 'ShareUpdateExclusiveLock'", &[])
                .await
                .unwrap();
            locked = !rows.is_empty();
        });
        if locked {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert!(locked, "the blocking transaction took its lock");
    let started = std::time::Instant::now();
    let mut hook = Command::new(repo_root().join("rules/hooks/pg-create-index.sh"));
    hook.env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("PERFSAGE_PHASE", "apply")
        .env("PERFSAGE_DRY_RUN", "0")
        .env("PERFSAGE_RUN", "r2")
        .env("PERFSAGE_TIMEOUT_MS", "6000")
        .env("PGHOST", "127.0.0.1")
        .env("PGUSER", "postgres");
    for (key, value) in step["apply"]["env"].as_object().unwrap() {
        hook.env(key, value.as_str().unwrap());
    }
    let blocked = output(&mut hook);
    let took = started.elapsed();
    let _ = blocker.kill();
    let _ = blocker.wait();
    assert_eq!(blocked.status.code(), Some(2));
    assert!(stderr(&blocked).contains("canceling statement due to lock timeout"), "{}", stderr(&blocked));
    // lock_timeout = (6000 - 1000) / 2 ms: the server cancelled it, not a kill at 6 s.
    assert!(took < std::time::Duration::from_millis(5000), "took {took:?}");
    assert_eq!(pg_indexes(&name, "t"), ["t_pkey"], "nothing left behind");
    assert!(!state.path().join("runs/r2").join(format!("{name}.public.perfsage_t_email_idx.created")).exists());
}

/// A database client wrapper on the hook's PATH that records each call, then
/// runs the real client: proof of whether a hook reached the server at all.
fn recording_clients(dir: &Path, log: &Path) -> String {
    use std::os::unix::fs::PermissionsExt;
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    for client in ["psql", "mariadb", "mysql"] {
        let real = Command::new("sh").arg("-c").arg(format!("command -v {client}")).output().unwrap();
        let real = String::from_utf8(real.stdout).unwrap().trim().to_string();
        if real.is_empty() {
            continue;
        }
        let wrapper = bin.join(client);
        std::fs::write(
            &wrapper,
            format!("#!/bin/sh\nprintf '%s\\n' \"$*\" >> '{}'\nexec '{real}' \"$@\"\n", log.display()),
        )
        .unwrap();
        std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    format!("{}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", bin.display())
}

/// Every injection payload in every parameter of both index hooks, run
/// directly against the real servers (bypassing perfsage's own checks): each is
/// refused before the client is even started, so no DDL carrying a payload is
/// ever sent; the same hooks with valid parameters do reach the server.
#[test]
fn index_hooks_refuse_every_payload_and_never_reach_the_server() {
    let dir = tempfile::tempdir().unwrap();
    let canary = dir.path().join("canary");
    let log = dir.path().join("client-calls");
    let path = recording_clients(dir.path(), &log);
    let state = dir.path().join("state");
    std::fs::create_dir_all(&state).unwrap();

    let pg_name = unique("pgpay");
    pg_admin(&format!("drop database if exists {pg_name} with (force)"));
    pg_admin(&format!("create database {pg_name}"));
    let _pg = PgCrm { name: pg_name.clone() }; // dropped at the end
    pg(&pg_name, async |client| {
        client.batch_execute("create table contacts (id int primary key, email text not null)").await.unwrap();
    });
    let my_name = unique("mypay");
    my(&[format!("drop database if exists {my_name}"), format!("create database {my_name}")]);
    let _my = MyCrm { name: my_name.clone() };
    my(&[format!("create table {my_name}.contacts (id int primary key, email varchar(100) not null)")]);

    let indexes = |script: &str| {
        if script.starts_with("pg") { pg_indexes(&pg_name, "contacts") } else { my_indexes(&my_name, "contacts") }
    };
    for (script, database) in [("pg-create-index.sh", &pg_name), ("mysql-create-index.sh", &my_name)] {
        let valid = [
            ("DATABASE", database.as_str()),
            ("TABLE", "contacts"),
            ("COLUMNS", "email"),
            ("INDEX", "perfsage_pay_idx"),
        ];
        let run = |param: &str, value: &str| {
            let mut cmd = Command::new(repo_root().join("rules/hooks").join(script));
            cmd.env_clear()
                .env("PATH", &path)
                .env("PERFSAGE_PHASE", "apply")
                .env("PERFSAGE_DRY_RUN", "0")
                .env("PERFSAGE_RUN", "rpay")
                .env("PERFSAGE_STATE_DIR", &state)
                .env("PGHOST", "127.0.0.1")
                .env("PGUSER", "postgres")
                .env("MYSQL_HOST", "127.0.0.1")
                .env("MYSQL_USER", "root");
            for (key, valid) in valid {
                cmd.env(format!("PERFSAGE_PARAM_{key}"), if key == param { value } else { valid });
            }
            cmd.output().unwrap()
        };
        let before = indexes(script);
        for (param, _) in valid {
            for (name, payload) in crate::support::payloads::payloads(&canary) {
                let out = run(param, &payload);
                assert_eq!(out.status.code(), Some(2), "{script} refuses {param} = {name}: {}", stderr(&out));
                assert!(
                    !log.exists(),
                    "{script}: {param} = {name} started a client: {:?}",
                    std::fs::read_to_string(&log)
                );
                assert!(!canary.exists(), "{script}: {param} = {name} ran a command");
                assert_eq!(indexes(script), before, "{script}: {param} = {name} changed nothing");
            }
        }
        let out = run("", "");
        assert!(out.status.success(), "{script} with valid parameters: {}", stderr(&out));
        assert!(log.exists(), "{script} reached the server through the recorded client");
        assert!(indexes(script).contains(&"perfsage_pay_idx".to_string()), "{script} created the index");
        std::fs::remove_file(&log).unwrap();
    }
}
