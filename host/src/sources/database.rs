//! What the database sources share: the sample one server gives, the typed
//! errors, and the label that names a server in `meta.sources` and messages.
//!
//! A database source connects once, reads each statistics view on its own and
//! turns a view it may not read (missing privilege, extension not installed,
//! instrumentation off) into a warning that says how to fix it: what can be
//! read is read. Only a failure to connect (or a broken URL) fails the source.
//! Each source drives its async client on a current-thread tokio runtime of its
//! own, so the rest of perfsage stays synchronous.

use std::time::Duration;

use crate::model::{Database, Query};

/// How long a source waits to connect, and for any one statistics query.
pub const TIMEOUT: Duration = Duration::from_secs(5);

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
    #[error("cannot connect to {label}: no answer within {}s", TIMEOUT.as_secs())]
    ConnectTimeout { label: String },
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
/// to hand to `EXPLAIN` (one statement, no `EXPLAIN` of its own).
pub fn explainable(text: &str) -> bool {
    let head = text.trim_start().split(|c: char| !c.is_ascii_alphabetic()).next().unwrap_or("");
    ["select", "update", "delete"].iter().any(|k| head.eq_ignore_ascii_case(k))
        && !text.trim_end().trim_end_matches(';').contains(';')
        && !text.contains("...")
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
    fn labels_carry_no_credentials() {
        assert_eq!(label("postgresql", "db1", 5432, "shop"), "postgresql:db1:5432/shop");
    }

    #[test]
    fn only_single_reading_statements_are_explained() {
        assert!(explainable("select * from t where a = $1"));
        assert!(explainable("  UPDATE t set a = ? where b = ?;"));
        assert!(!explainable("insert into t values (?+)"));
        assert!(!explainable("select 1; drop table t"));
        assert!(!explainable("SELECT * FROM `t` WHERE `a` IN (...)"));
        assert!(!explainable("explain select 1"));
    }
}
