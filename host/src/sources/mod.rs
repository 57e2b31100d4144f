//! Sources: the doors through which metrics come in.
//!
//! Each source fills the snapshot sections it knows. Sources are the only
//! code (with hooks) that touches the outside world; everything downstream of
//! the snapshot is pure. A source that fails is reported and the run goes on
//! with what the others collected.

pub mod access_log;
pub mod histogram;
pub mod probe;
pub mod system;

use std::path::PathBuf;
use std::time::Duration;

use crate::model::Snapshot;
use access_log::{AccessLogSettings, AccessLogSource};
use probe::ProbeOptions;

/// What the collectors gathered, and what went wrong on the way.
#[derive(Debug, Clone)]
pub struct Collected {
    pub snapshot: Snapshot,
    /// Problems that did not stop collection (an unreadable /proc file, unparseable log lines, ...).
    pub warnings: Vec<String>,
    /// Sources that gave nothing (an unreadable access log); the snapshot lacks them.
    pub failures: Vec<String>,
}

/// Collection settings from the rule pack and the command line.
#[derive(Debug, Clone)]
pub struct CollectOptions {
    pub window: Duration,
    pub top_processes: usize,
    /// URLs to probe (`run --probe`), with how.
    pub probe: Vec<String>,
    pub probe_options: ProbeOptions,
    /// Access logs to read (`run --access-log`), with the rule pack's format settings.
    pub access_logs: Vec<PathBuf>,
    pub access_log: AccessLogSettings,
}

/// Collect this machine, then probe the URLs and read the access logs; their
/// endpoints and series join the system sections in one snapshot.
pub fn collect(options: &CollectOptions) -> Result<Collected, CollectError> {
    let source = system::SystemSource { window: options.window, top_processes: options.top_processes };
    let sample = source.collect()?;
    let warnings = sample.warnings.clone();
    let mut collected = Collected { snapshot: sample.into_snapshot(), warnings, failures: Vec::new() };
    if !options.probe.is_empty() {
        for result in probe::probe(&options.probe, &options.probe_options, &|_, _, _| {})? {
            collected.add_endpoints(format!("probe:{}", result.url), vec![result.endpoint()], Vec::new());
        }
    }
    if !options.access_logs.is_empty() {
        let source = AccessLogSource::new(&options.access_log)?;
        for path in &options.access_logs {
            match source.analyze(path, &|_| {}) {
                Ok(mut analysis) => {
                    collected.warnings.extend(analysis.bad_line_warning());
                    let endpoints = analysis.accumulator.endpoints(&source.service);
                    let series = analysis.accumulator.series(&source.service);
                    collected.add_endpoints(format!("access-log:{}", path.display()), endpoints, series);
                }
                Err(e) => collected.failures.push(error_chain(&e)),
            }
        }
    }
    Ok(collected)
}

/// Why collection produced no snapshot at all.
#[derive(Debug, thiserror::Error)]
pub enum CollectError {
    #[error(transparent)]
    System(#[from] system::SystemError),
    #[error("probe")]
    Probe(#[from] probe::ProbeError),
    #[error("access logs")]
    AccessLog(#[from] access_log::AccessLogError),
}

impl Collected {
    fn add_endpoints(
        &mut self,
        source: String,
        endpoints: Vec<crate::model::Endpoint>,
        series: Vec<crate::model::Series>,
    ) {
        self.snapshot.meta.sources.push(source);
        self.snapshot.endpoints.get_or_insert_with(Vec::new).extend(endpoints);
        if !series.is_empty() {
            self.snapshot.series.get_or_insert_with(Vec::new).extend(series);
        }
    }
}

/// An error and its causes on one line.
pub fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(c) = cause {
        text.push_str(&format!(": {c}"));
        cause = c.source();
    }
    text
}
