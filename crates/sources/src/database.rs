//! What the database sources share: the sample one server gives, the typed
//! errors, and the label that names a server in `meta.sources` and messages.
//!
//! A database source connects once, reads each statistics view on its own and
//! turns a view it may not read (missing privilege, extension not installed,
//! instrumentation off) into a warning that says how to fix it: what can be
//! read is read. Only a failure to connect, a broken URL or the deadline below
//! fails the source.
//! Each source drives its async client on a current-thread tokio runtime of its
//! own, so the rest of perfsage stays synchronous.
//!
//! Every network read has a deadline: a source runs whole (connect, every
//! view, every `EXPLAIN`, the goodbye) under one tokio timeout, the rule
//! pack's `[sources] timeout_ms` (default 30 s), because a server that accepts
//! the connection and then stalls would otherwise hang the run forever. The
//! server is also asked to cancel any one statement after that long
//! (`statement_timeout`, `max_statement_time`), so a slow view does not keep
//! working on the server after perfsage gave up. A source that runs out of
//! time fails with the step it was on ([`Step`]).

use std::cell::Cell;
use std::future::Future;
use std::time::Duration;

use perfsage_model::{Database, Query};
use serde::Deserialize;

/// The default of `[sources] timeout_ms`: the most one database source may take.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// `[sources]`: connection URLs of the database servers to read, and how
/// long each may take.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SourceSettings {
    pub postgres: Vec<String>,
    pub mysql: Vec<String>,
    /// The most one database source may take, connect to goodbye; also each
    /// statement's timeout on the server.
    pub timeout_ms: u64,
}

impl Default for SourceSettings {
    fn default() -> Self {
        SourceSettings { postgres: Vec::new(), mysql: Vec::new(), timeout_ms: DEFAULT_TIMEOUT.as_millis() as u64 }
    }
}

impl SourceSettings {
    /// Refuse a deadline too short to connect, or one that never ends.
    pub fn check(&self) -> Result<(), String> {
        if (100..=600_000).contains(&self.timeout_ms) {
            Ok(())
        } else {
            Err("sources.timeout_ms must be 100..=600000".into())
        }
    }
}

/// The statement timeout of each `EXPLAIN` (planning takes milliseconds; a
/// plan that takes longer is not worth the wait), capped by the source's.
pub const EXPLAIN_TIMEOUT: Duration = Duration::from_secs(5);

/// What a source is doing, for the message when it runs out of time. A
/// source's future runs on one thread, so a `Cell` is enough.
#[derive(Debug)]
pub struct Step(Cell<&'static str>);

impl Step {
    pub fn new() -> Step {
        Step(Cell::new("connecting"))
    }

    /// Name the next step: `"reading pg_stat_statements"`.
    pub fn set(&self, step: &'static str) {
        self.0.set(step);
    }

    pub fn get(&self) -> &'static str {
        self.0.get()
    }
}

impl Default for Step {
    fn default() -> Self {
        Step::new()
    }
}

/// Run a source's whole read under `timeout`; past it, the source fails
/// naming the step it was on. Dropping the future closes its connection.
pub async fn within<T>(
    label: &str,
    timeout: Duration,
    step: &Step,
    read: impl Future<Output = Result<T, DatabaseError>>,
) -> Result<T, DatabaseError> {
    match tokio::time::timeout(timeout, read).await {
        Ok(result) => result,
        Err(_) => Err(DatabaseError::Timeout { label: label.to_owned(), after: timeout, step: step.get() }),
    }
}

/// `30 s`, `1.5 s`, `250 ms`.
pub fn human(duration: Duration) -> String {
    let ms = duration.as_millis();
    if ms >= 1000 && ms.is_multiple_of(1000) {
        format!("{} s", ms / 1000)
    } else if ms >= 1000 {
        format!("{:.1} s", ms as f64 / 1000.0)
    } else {
        format!("{ms} ms")
    }
}

/// What one database server contributed.
#[derive(Debug, Clone)]
pub struct DatabaseSample {
    /// `postgresql:127.0.0.1:5432/shop`: the server without credentials.
    pub label: String,
    pub database: Database,
    pub queries: Vec<Query>,
    /// Views that could not be read, each with how to make them readable.
    pub warnings: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum DatabaseError {
    #[error("invalid {engine} URL: {message}")]
    Url { engine: &'static str, message: String },
    #[error("cannot connect to {label}")]
    Connect { label: String, source: Box<dyn std::error::Error + Send + Sync> },
    #[error("{label}: timed out after {} {step}", human(*after))]
    Timeout { label: String, after: Duration, step: &'static str },
    #[error("{label}: cannot read {what}")]
    Query { label: String, what: &'static str, source: Box<dyn std::error::Error + Send + Sync> },
    #[error("cannot start the runtime of the database client")]
    Runtime(#[source] std::io::Error),
}

/// The runtime a database source drives its client on.
pub fn runtime() -> Result<tokio::runtime::Runtime, DatabaseError> {
    tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(DatabaseError::Runtime)
}

/// `engine:host:port/db`, never the user or password.
pub fn label(engine: &str, host: &str, port: u16, database: &str) -> String {
    format!("{engine}:{host}:{port}/{database}")
}

/// A `database` record with nothing measured yet.
pub fn empty_database(name: String, engine: &str) -> Database {
    Database {
        name,
        engine: engine.to_owned(),
        connections_used: 0,
        connections_max: 0,
        cache_hit_ratio: None,
        lock_waits: 0,
        idle_in_transaction: 0,
        deadlocks: None,
        temp_files: None,
        transactions: Vec::new(),
        tables: Vec::new(),
        status: Vec::new(),
    }
}

/// `hits / (hits + misses)`, or `None` before the first access.
pub fn hit_ratio(hits: f64, misses: f64) -> Option<f64> {
    (hits + misses > 0.0).then(|| hits / (hits + misses))
}

/// How many of the busiest statements a source explains.
pub const MAX_EXPLAINED: usize = 20;

/// Whether a statement is one whose plan says which tables it scans, and safe
/// to hand to `EXPLAIN`: one statement starting with SELECT, INSERT, UPDATE
/// or DELETE (not `WITH`, whose parts may be anything; no `EXPLAIN` of its own,
/// no DDL, no `CALL`), and whole (a truncated text ends in `...`).
pub fn explainable(text: &str) -> bool {
    let head = text.trim_start().split(|c: char| !c.is_ascii_alphabetic()).next().unwrap_or("");
    ["select", "insert", "update", "delete"].iter().any(|k| head.eq_ignore_ascii_case(k))
        && !text.trim_end().trim_end_matches(';').contains(';')
        && !text.contains("...")
}

/// The warning for a source connected with more rights than it needs.
pub fn superuser_warning(label: &str, who: &str, instead: &str) -> String {
    format!(
        "{label}: connected as {who}, with superuser rights perfsage does not need and should not hold \
         (it runs EXPLAIN on the server's statements); connect as a monitoring role instead: {instead}"
    )
}

/// What the sample says about a statement that was not explained, and why.
pub fn not_explained(label: &str, text: &str, reason: &str) -> String {
    let short: String = text.chars().take(120).collect();
    let ellipsis = if short.len() < text.len() { "..." } else { "" };
    format!("{label}: not explained (it {reason}): `{short}{ellipsis}`")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hit_ratio_is_undefined_without_accesses() {
        assert_eq!(hit_ratio(0.0, 0.0), None);
        assert_eq!(hit_ratio(3.0, 1.0), Some(0.75));
    }

    #[test]
    fn durations_read_as_people_write_them() {
        assert_eq!(human(Duration::from_secs(30)), "30 s");
        assert_eq!(human(Duration::from_millis(1500)), "1.5 s");
        assert_eq!(human(Duration::from_millis(250)), "250 ms");
    }

    #[test]
    fn a_stalled_read_fails_naming_its_step() {
        let step = Step::new();
        let error = runtime()
            .unwrap()
            .block_on(within("postgresql:h:1/db", Duration::from_millis(50), &step, async {
                step.set("reading pg_stat_statements");
                std::future::pending::<Result<(), DatabaseError>>().await
            }))
            .unwrap_err();
        assert_eq!(error.to_string(), "postgresql:h:1/db: timed out after 50 ms reading pg_stat_statements");
    }

    #[test]
    fn labels_carry_no_credentials() {
        assert_eq!(label("postgresql", "db1", 5432, "shop"), "postgresql:db1:5432/shop");
    }

    #[test]
    fn only_single_reading_statements_are_explained() {
        assert!(explainable("select * from t where a = $1"));
        assert!(explainable("  UPDATE t set a = ? where b = ?;"));
        assert!(explainable("insert into t values ($1, $2)"));
        assert!(!explainable("insert into t values (...)"));
        assert!(!explainable("with x as (delete from t returning *) select * from x"));
        assert!(!explainable("call p()"));
        assert!(!explainable("create table t (a int)"));
        assert!(!explainable("select 1; drop table t"));
        assert!(!explainable("SELECT * FROM `t` WHERE `a` IN (...)"));
        assert!(!explainable("explain select 1"));
    }
}
