//! Sources: the doors through which metrics come in.
//!
//! Each source fills the snapshot sections it knows. Sources are the only
//! code (with hooks) that touches the outside world; everything downstream of
//! the snapshot is pure. A source that fails is reported and the run goes on
//! with what the others collected.
//!
//! The system source is required (without it there is no snapshot); database
//! sources are optional extras: one that fails is listed in
//! [`Collected::failed`], its sections stay absent, and the command exits 3.

pub mod database;
pub mod mysql;
pub mod postgres;
pub mod system;

use std::time::Duration;

use crate::model::Snapshot;

/// What the collectors gathered, and what went wrong on the way.
#[derive(Debug)]
pub struct Collected {
    pub snapshot: Snapshot,
    /// Problems that did not stop collection (an unreadable /proc file, a
    /// statistics view without the privilege to read it, ...), each naming its source.
    pub warnings: Vec<String>,
    /// Optional sources that could not contribute at all.
    pub failed: Vec<database::DatabaseError>,
}

/// Collection settings from the rule pack and the command line.
#[derive(Debug, Clone)]
pub struct CollectOptions {
    pub window: Duration,
    pub top_processes: usize,
    /// PostgreSQL servers to read, as `postgresql://` URLs.
    pub postgres: Vec<String>,
    /// MySQL or MariaDB servers to read, as `mysql://` URLs.
    pub mysql: Vec<String>,
}

/// Collect this machine, then the database servers of `options`.
pub fn collect(options: &CollectOptions) -> Result<Collected, system::SystemError> {
    let source = system::SystemSource { window: options.window, top_processes: options.top_processes };
    let sample = source.collect()?;
    let warnings = sample.warnings.iter().map(|w| format!("system source: {w}")).collect();
    let mut collected = Collected { snapshot: sample.into_snapshot(), warnings, failed: Vec::new() };
    let databases = options.postgres.iter().map(|url| postgres::collect(url));
    for result in databases.chain(options.mysql.iter().map(|url| mysql::collect(url))) {
        match result {
            Ok(sample) => collected.add_database(sample),
            Err(error) => collected.failed.push(error),
        }
    }
    Ok(collected)
}

impl Collected {
    /// Merge one server's sample into the snapshot, next to the system sections.
    fn add_database(&mut self, sample: database::DatabaseSample) {
        let snapshot = &mut self.snapshot;
        snapshot.meta.sources.push(sample.label);
        snapshot.databases.get_or_insert_with(Vec::new).push(sample.database);
        snapshot.queries.get_or_insert_with(Vec::new).extend(sample.queries);
        self.warnings.extend(sample.warnings);
    }
}
