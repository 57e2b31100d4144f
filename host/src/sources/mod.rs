//! Sources: the doors through which metrics come in.
//!
//! Each source fills the snapshot sections it knows. Sources are the only
//! code (with hooks) that touches the outside world; everything downstream of
//! the snapshot is pure. A source that fails is reported and the run goes on
//! with what the others collected.

pub mod system;

use std::time::Duration;

use crate::model::Snapshot;

/// What the collectors gathered, and what went wrong on the way.
#[derive(Debug, Clone)]
pub struct Collected {
    pub snapshot: Snapshot,
    /// Problems that did not stop collection (an unreadable /proc file, ...).
    pub warnings: Vec<String>,
}

/// Collection settings from the rule pack and the command line.
#[derive(Debug, Clone)]
pub struct CollectOptions {
    pub window: Duration,
    pub top_processes: usize,
}

/// Collect this machine.
pub fn collect(options: &CollectOptions) -> Result<Collected, system::SystemError> {
    let source = system::SystemSource { window: options.window, top_processes: options.top_processes };
    let sample = source.collect()?;
    let warnings = sample.warnings.clone();
    Ok(Collected { snapshot: sample.into_snapshot(), warnings })
}
