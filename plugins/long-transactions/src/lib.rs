//! Built-in rule plugin `long-transactions`: transactions open too long, idle
//! sessions holding one open, and sessions waiting on locks.
//!
//! An open transaction holds its row locks until it ends, and (PostgreSQL)
//! holds back the xmin horizon, so VACUUM cannot remove rows that died since
//! it began; (InnoDB) it keeps undo history growing. A session "idle in
//! transaction" does all of that while doing nothing: the application began a
//! transaction and went off to do something else (a network call, a user's
//! click) or forgot to commit.
//!
//! - `long-transactions/open`: each listed transaction (the sources keep the
//!   oldest ten) with `age_s` at least `max_age_s` (default 60 s): `medium`,
//!   `high` from 10 minutes, `critical` from an hour. One finding per
//!   transaction, target `"{engine} {database} pid {pid}"`.
//! - `long-transactions/idle`: each transaction whose session is idle in it
//!   (PostgreSQL state `idle in transaction`, `idle in transaction (aborted)`;
//!   a MySQL-style `Sleep`) for at least `idle_max_s` (default 30 s), with the
//!   same age ladder and target. Such a transaction is reported here and not
//!   again as `open`. MariaDB/MySQL only count the sessions that sleep inside a
//!   transaction (`database.idle_in_transaction`) without saying which one, so
//!   there a count above 0 with an open transaction at least `idle_max_s` old
//!   is one `medium` finding for the database (target `"{engine} {database}"`).
//! - `long-transactions/lock-waits`: sessions waiting for a lock right now
//!   (`lock_waits`: PostgreSQL ungranted `pg_locks`, InnoDB
//!   `Innodb_row_lock_current_waits`): `medium`, `high` from
//!   `lock_waits_high` (default 5).
//!
//! Actions (manual; ending a session rolls its work back): `db.terminate-session`
//! with the exact `SELECT pg_terminate_backend(pid);` / `KILL pid;`,
//! `db.idle-transaction-timeout` (PostgreSQL
//! `idle_in_transaction_session_timeout`, MariaDB `idle_transaction_timeout`),
//! `db.commit-promptly` (the application fix), and
//! `db.find-lock-or-slow-query` for lock waits. Findings are sorted by target.

use perfsage_sdk::databases::{self, MARIADB, MYSQL, SHORT_TEXT_CHARS, is_mysql_family, short_text};
use perfsage_sdk::metrics::human_duration;
use perfsage_sdk::*;

/// The `long-transactions` rule plugin.
pub struct Plugin;

/// The timeout `db.idle-transaction-timeout` proposes.
pub const IDLE_TIMEOUT_S: u32 = 300;

impl Rule for Plugin {
    fn describe() -> RuleInfo {
        RuleInfo::new(
            "long-transactions",
            env!("CARGO_PKG_VERSION"),
            "Transactions open too long, sessions idle in a transaction, and lock waits",
            Category::Software,
        )
        .needs(&[Section::Databases])
        .param(
            param::number("max_age_s", "Age from which an open transaction is too long", "s", 60.0).range(1.0, 1.0e7),
        )
        .param(
            param::number("idle_max_s", "Age from which a session idle in its transaction is reported", "s", 30.0)
                .range(1.0, 1.0e7),
        )
        .param(
            param::integer("lock_waits_high", "Sessions waiting for locks from which the finding is high", "", 5)
                .range(1.0, 1.0e6),
        )
    }

    fn check(snapshot: &Snapshot, config: &Config) -> Result<Vec<Finding>, String> {
        let databases = snapshot.databases.as_deref().ok_or("the snapshot has no databases section")?;
        let limits = Limits {
            max_age_s: config.number("max_age_s"),
            idle_max_s: config.number("idle_max_s"),
            lock_waits_high: config.integer("lock_waits_high").max(1) as u32,
        };
        let mut findings = Vec::new();
        for db in databases {
            for t in &db.transactions {
                if is_idle(&t.state) && t.age_s >= limits.idle_max_s {
                    findings.push(idle(db, t, &limits));
                } else if t.age_s >= limits.max_age_s {
                    findings.push(open(db, t, &limits));
                }
            }
            findings.extend(idle_count(db, &limits));
            findings.extend(lock_waits(db, &limits));
        }
        builders::sort_by_target(&mut findings);
        Ok(findings)
    }
}

export_rule!(Plugin);

struct Limits {
    max_age_s: f64,
    idle_max_s: f64,
    lock_waits_high: u32,
}

/// Whether a session state says it idles inside its transaction.
pub fn is_idle(state: &str) -> bool {
    state.starts_with("idle in transaction") || state.eq_ignore_ascii_case("sleep")
}

fn severity_by_age(age_s: f64) -> Severity {
    severity::rising(age_s, 600.0, 3600.0)
}

fn target(db: &Database, t: &DbTransaction) -> String {
    format!("{} pid {}", databases::label(&db.engine, &db.name), t.pid)
}

fn last_statement(t: &DbTransaction) -> String {
    match short_text(&t.query, SHORT_TEXT_CHARS) {
        q if q.is_empty() => "no statement recorded".to_string(),
        q => format!("last statement `{q}`"),
    }
}

fn open(db: &Database, t: &DbTransaction, limits: &Limits) -> Finding {
    let state = if t.state.is_empty() { String::new() } else { format!(", {}", t.state) };
    let title =
        format!("Transaction of pid {} open for {}{state} ({})", t.pid, human_duration(t.age_s), last_statement(t));
    Finding::new("long-transactions/open", title, Category::Software, severity_by_age(t.age_s), target(db, t))
        .evidence("transaction age", t.age_s, limits.max_age_s, "s")
        .action(terminate_session(db, t))
        .action(commit_promptly(db, Some(t)))
}

fn idle(db: &Database, t: &DbTransaction, limits: &Limits) -> Finding {
    let title = format!(
        "Session pid {} idle in a transaction open for {} ({})",
        t.pid,
        human_duration(t.age_s),
        last_statement(t)
    );
    Finding::new("long-transactions/idle", title, Category::Software, severity_by_age(t.age_s), target(db, t))
        .evidence("idle in transaction for", t.age_s, limits.idle_max_s, "s")
        .action(terminate_session(db, t))
        .action(idle_timeout(db))
        .action(commit_promptly(db, Some(t)))
}

/// MariaDB/MySQL: sessions sleeping in a transaction, counted but not named.
fn idle_count(db: &Database, limits: &Limits) -> Option<Finding> {
    if !is_mysql_family(&db.engine) || db.idle_in_transaction == 0 || db.transactions.iter().any(|t| is_idle(&t.state))
    {
        return None;
    }
    let oldest = db.transactions.iter().map(|t| t.age_s).max_by(f64::total_cmp)?;
    if oldest < limits.idle_max_s {
        return None;
    }
    let label = databases::label(&db.engine, &db.name);
    let title = format!(
        "{label}: {} session(s) sleep inside an open transaction; the oldest open transaction is {} old",
        db.idle_in_transaction,
        human_duration(oldest)
    );
    Some(
        Finding::new("long-transactions/idle", title, Category::Software, Severity::Medium, label)
            .evidence("sessions idle in transaction", db.idle_in_transaction as f64, 0.0, "")
            .evidence("oldest transaction age", oldest, limits.idle_max_s, "s")
            .action(idle_timeout(db))
            .action(commit_promptly(db, None)),
    )
}

fn lock_waits(db: &Database, limits: &Limits) -> Option<Finding> {
    let waits = db.lock_waits;
    if waits == 0 {
        return None;
    }
    let label = databases::label(&db.engine, &db.name);
    let severity = severity::high_from(f64::from(waits), f64::from(limits.lock_waits_high));
    let title = format!("{label}: {waits} session(s) waiting for a lock");
    let mut finding = Finding::new("long-transactions/lock-waits", title, Category::Software, severity, label.clone())
        .evidence("sessions waiting for locks", waits as f64, 0.0, "")
        .action(find_blocker(db, &label));
    // The oldest open transaction is the usual blocker; name it when it is old.
    if let Some(oldest) = databases::oldest_transaction(db, limits.max_age_s) {
        finding = finding.action(terminate_session(db, oldest));
    }
    Some(finding.action(commit_promptly(db, None)))
}

fn terminate_session(db: &Database, t: &DbTransaction) -> Action {
    let label = databases::label(&db.engine, &db.name);
    let (look, end) = if is_mysql_family(&db.engine) {
        (format!("SELECT * FROM information_schema.PROCESSLIST WHERE ID = {};", t.pid), format!("KILL {};", t.pid))
    } else {
        (
            format!(
                "SELECT pid, usename, application_name, client_addr, state, xact_start, query FROM \
                 pg_stat_activity WHERE pid = {};",
                t.pid
            ),
            format!("SELECT pg_terminate_backend({});", t.pid),
        )
    };
    Action::new("db.terminate-session", format!("End session {} on {label}", t.pid), Category::Software)
        .detail(format!(
            "Its transaction has been open for {} and holds its locks (and old row versions) until it ends. \
             See who it is first (`{look}`), then, if it is safe to lose its uncommitted work, end it: \
             `{end}` Its transaction rolls back (a large one can take a while to undo) and the application sees a \
             dropped connection. This relieves the symptom; the fix is in the application.",
            human_duration(t.age_s)
        ))
        .impact(0.6)
        .confidence(0.6)
        .effort(Level::Low)
        .risk(Level::Medium)
}

fn idle_timeout(db: &Database) -> Action {
    let label = databases::label(&db.engine, &db.name);
    let minutes = IDLE_TIMEOUT_S / 60;
    let how = match db.engine.as_str() {
        MARIADB => format!(
            "On MariaDB (10.3+) run `SET GLOBAL idle_transaction_timeout = {IDLE_TIMEOUT_S};` and persist \
             `idle_transaction_timeout = {IDLE_TIMEOUT_S}` in the [mysqld] section of my.cnf."
        ),
        MYSQL => "MySQL has no idle-in-transaction timeout; `wait_timeout` closes any idle connection, in a \
                    transaction or not, so set it for the application's sessions (lower than its pool's idle \
                    timeout would break the pool) or have the pool validate connections."
            .to_string(),
        _ => format!(
            "On PostgreSQL run `ALTER SYSTEM SET idle_in_transaction_session_timeout = '{minutes}min';` and \
             `SELECT pg_reload_conf();`, or set it only for the application's role: `ALTER ROLE <role> SET \
             idle_in_transaction_session_timeout = '{minutes}min';`"
        ),
    };
    Action::new(
        "db.idle-transaction-timeout",
        format!("End transactions idle for {minutes} min on {label} automatically"),
        Category::Software,
    )
    .detail(format!(
        "A timeout ends a session that sits idle inside a transaction, so a forgotten transaction cannot hold \
         locks and block vacuum for hours. {how} Sessions ended this way get an error on their next \
         statement; pick a timeout longer than any legitimate pause."
    ))
    .impact(0.6)
    .confidence(0.7)
    .effort(Level::Low)
    .risk(Level::Medium)
}

fn commit_promptly(db: &Database, t: Option<&DbTransaction>) -> Action {
    let label = databases::label(&db.engine, &db.name);
    let seen = t
        .map(|t| match short_text(&t.query, SHORT_TEXT_CHARS) {
            q if q.is_empty() => String::new(),
            q => format!(" The session's last statement was `{q}`: find the code that runs it."),
        })
        .unwrap_or_default();
    Action::new(
        "db.commit-promptly",
        format!("Keep the application's transactions short on {label}"),
        Category::Software,
    )
    .detail(format!(
        "Transactions should span database work only: no HTTP or RPC calls, file or queue I/O, waits for \
             user input or sleeps between BEGIN and COMMIT. Commit or roll back in a `finally`/`defer` so an \
             error cannot leave one open, use autocommit for plain reads, and scope ORM sessions to one unit \
             of work.{seen}"
    ))
    .impact(0.8)
    .confidence(0.6)
    .effort(Level::Medium)
}

fn find_blocker(db: &Database, label: &str) -> Action {
    let how = if is_mysql_family(&db.engine) {
        "`SELECT * FROM sys.innodb_lock_waits\\G` names the waiting and the blocking thread (`blocking_pid`) \
         and the statement to end it (`sql_kill_blocking_connection`)"
    } else {
        "`SELECT pid, pg_blocking_pids(pid) AS blocked_by, wait_event_type, state, left(query, 80) FROM \
         pg_stat_activity WHERE cardinality(pg_blocking_pids(pid)) > 0;` names each waiting session and the \
         sessions blocking it"
    };
    Action::new(
        "db.find-lock-or-slow-query",
        format!("Find the session blocking the others on {label}"),
        Category::Software,
    )
    .detail(format!(
        "Lock waits queue behind one blocker, usually a long or idle transaction, or a DDL statement. {how}. \
             End or fix the blocker; repeated waits on the same rows call for shorter transactions or a \
             consistent locking order."
    ))
    .impact(0.7)
    .confidence(0.6)
    .effort(Level::Low)
}

#[cfg(test)]
mod tests {
    use super::*;
    use perfsage_sdk::testing::{check, database, empty_snapshot};

    fn tx(pid: u32, age_s: f64, state: &str) -> DbTransaction {
        DbTransaction { pid, age_s, state: state.into(), query: "update deals set stage = $1 where id = $2".into() }
    }

    fn db(engine: &str, transactions: Vec<DbTransaction>, idle: u32, lock_waits: u32) -> Database {
        Database { transactions, idle_in_transaction: idle, lock_waits, ..database(engine, &[]) }
    }

    fn run(databases: Vec<Database>, config: Vec<ConfigEntry>) -> Vec<Finding> {
        check::<Plugin>(&Snapshot { databases: Some(databases), ..empty_snapshot() }, config).unwrap()
    }

    fn summary(findings: &[Finding]) -> Vec<(&str, &str, Severity)> {
        findings.iter().map(|f| (f.rule.as_str(), f.target.as_str(), f.severity)).collect()
    }

    #[test]
    fn open_and_idle_transactions_are_reported_once_each() {
        let txs = vec![
            tx(4242, 1200.0, "idle in transaction"),
            tx(515, 4000.0, "active"),
            tx(616, 90.0, "active"),
            tx(717, 20.0, "idle in transaction"),
            tx(818, 5.0, "active"),
        ];
        let findings = run(vec![db("postgresql", txs, 2, 0)], vec![]);
        assert_eq!(
            summary(&findings),
            [
                ("long-transactions/idle", "postgresql crm pid 4242", Severity::High),
                ("long-transactions/open", "postgresql crm pid 515", Severity::Critical),
                ("long-transactions/open", "postgresql crm pid 616", Severity::Medium),
            ]
        );
        let idle = &findings[0];
        let ids: Vec<&str> = idle.actions.iter().map(|a| a.id.as_str()).collect();
        assert_eq!(ids, ["db.terminate-session", "db.idle-transaction-timeout", "db.commit-promptly"]);
        assert!(idle.actions[0].detail.contains("SELECT pg_terminate_backend(4242);"));
        assert!(idle.actions[1].detail.contains("idle_in_transaction_session_timeout = '5min'"));
        assert!(idle.title.contains("20 min"));
    }

    #[test]
    fn mariadb_idle_sessions_are_counted_and_lock_waits_name_the_oldest() {
        let txs = vec![tx(88, 700.0, "RUNNING"), tx(91, 12.0, "LOCK WAIT")];
        let findings = run(vec![db("mariadb", txs, 1, 6)], vec![]);
        assert_eq!(
            summary(&findings),
            [
                ("long-transactions/idle", "mariadb crm", Severity::Medium),
                ("long-transactions/lock-waits", "mariadb crm", Severity::High),
                ("long-transactions/open", "mariadb crm pid 88", Severity::High),
            ]
        );
        assert!(findings[0].actions[0].detail.contains("SET GLOBAL idle_transaction_timeout = 300;"));
        let locks: Vec<&str> = findings[1].actions.iter().map(|a| a.id.as_str()).collect();
        assert_eq!(locks, ["db.find-lock-or-slow-query", "db.terminate-session", "db.commit-promptly"]);
        assert!(findings[1].actions[1].detail.contains("KILL 88;"));
    }

    #[test]
    fn short_transactions_are_silent() {
        let txs = vec![tx(1, 5.0, "active"), tx(2, 10.0, "idle in transaction")];
        assert!(run(vec![db("postgresql", txs, 1, 0)], vec![]).is_empty());
        assert!(run(vec![db("mysql", vec![], 0, 0)], vec![]).is_empty());
    }

    #[test]
    fn config_moves_the_thresholds() {
        let dbs =
            vec![db("postgresql", vec![tx(9, 45.0, "active"), tx(10, 20.0, "idle in transaction (aborted)")], 1, 2)];
        assert_eq!(
            summary(&run(dbs.clone(), vec![])),
            [("long-transactions/lock-waits", "postgresql crm", Severity::Medium)]
        );
        let strict = vec![
            ConfigEntry { name: "max_age_s".into(), value: ParamValue::Number(30.0) },
            ConfigEntry { name: "idle_max_s".into(), value: ParamValue::Number(15.0) },
            ConfigEntry { name: "lock_waits_high".into(), value: ParamValue::Integer(2) },
        ];
        assert_eq!(
            summary(&run(dbs, strict)),
            [
                ("long-transactions/lock-waits", "postgresql crm", Severity::High),
                ("long-transactions/idle", "postgresql crm pid 10", Severity::Medium),
                ("long-transactions/open", "postgresql crm pid 9", Severity::Medium),
            ]
        );
    }
}
