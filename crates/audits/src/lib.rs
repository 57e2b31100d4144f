//! Audits: a check that is remembered. One audit gets a snapshot (collected
//! by the sources, or replayed from a file), checks it, stores the report in
//! the [`history`], and compares it with the previous audit of the same
//! target ([`diff`]). Exports ([`html`], [`prometheus`], JSON) render a
//! stored audit; [`service`] repeats audits on a schedule.
//!
//! The audit flow knows sources only through [`SnapshotOrigin`]: a new source
//! plugs in by filling its sections in [`perfsage_sources::collect`]. A
//! collection that fails as a whole is recorded as a failed audit; an
//! optional source that fails or times out (a database server that stalls)
//! makes the audit `degraded`, with the source's failure as its error; either
//! way the next audit still runs. Checking is passed in as a closure, so this module does not care
//! how plugins were loaded.
//!
//! Concurrency: one audit process per state directory at a time, enforced by
//! an exclusive lock on `audit.lock` ([`AuditLock`]); readers (`history`,
//! `report`) need no lock (SQLite's WAL lets them read while an audit writes).

pub mod diff;
pub mod history;
pub mod html;
pub mod prometheus;
pub mod service;

use std::fs::File;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use diff::Diff;
use history::{AuditSummary, History, HistoryError, Status};
use perfsage_model::Snapshot;
pub use perfsage_private::default_state_dir;
use perfsage_private::{Readers, write_atomic};
use perfsage_ranking::CheckResult;
use perfsage_reports::Report;
use perfsage_snapshot::SnapshotError;
use perfsage_sources::{self as sources, CollectOptions, error_chain};

/// Past audits drawn in a report's trend chart.
pub const TREND_AUDITS: usize = 50;

/// Where an audit's snapshot comes from.
#[derive(Debug, Clone)]
pub enum SnapshotOrigin {
    /// Replay a saved snapshot (fixtures, or snapshots taken elsewhere).
    Replay(PathBuf),
    /// Collect with the configured sources.
    Collect(Box<CollectOptions>),
}

/// Why an audit got no snapshot.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error(transparent)]
    Replay(#[from] SnapshotError),
    #[error("collecting failed")]
    Collect(#[from] sources::CollectError),
}

#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error(transparent)]
    History(#[from] HistoryError),
    #[error("another perfsage audit holds {path}; audits of one state directory do not overlap")]
    Busy { path: PathBuf },
    #[error("cannot lock {path}")]
    Lock { path: PathBuf, source: std::io::Error },
    #[error("cannot write {path}")]
    Export { path: PathBuf, source: std::io::Error },
    #[error(transparent)]
    Chart(#[from] html::ChartError),
}

/// A stored audit with everything its renderings need.
#[derive(Debug, Clone)]
pub struct AuditView {
    pub summary: AuditSummary,
    pub report: Report,
    pub snapshot: Snapshot,
    /// Against the previous audit of the same target.
    pub diff: Diff,
    /// The target's audits up to this one, newest first.
    pub trend: Vec<AuditSummary>,
}

impl AuditView {
    /// Audit `id` from the history, with its diff and trend.
    pub fn load(history: &History, id: i64) -> Result<AuditView, HistoryError> {
        let stored = history.load(id)?;
        let target = stored.summary.target.clone();
        let previous = history.previous(&target, id)?;
        let before = match previous {
            Some(p) => history.findings(p)?,
            None => Vec::new(),
        };
        let diff = diff::diff(previous, &before, &history.findings(id)?);
        Ok(AuditView {
            trend: history.list(Some(&target), Some(id), TREND_AUDITS)?,
            summary: stored.summary,
            report: stored.report,
            snapshot: stored.snapshot,
            diff,
        })
    }
}

/// The JSON of an audit: `{"audit": summary, "diff": ..., "report": Report}`,
/// where `report` is exactly `perfsage check --format json`.
pub fn audit_json(view: &AuditView) -> String {
    #[derive(serde::Serialize)]
    struct Json<'a> {
        audit: &'a AuditSummary,
        diff: &'a Diff,
        report: &'a Report,
    }
    let json = Json { audit: &view.summary, diff: &view.diff, report: &view.report };
    let mut text = serde_json::to_string_pretty(&json).expect("an audit always serializes");
    text.push('\n');
    text
}

/// What one audit came to.
#[derive(Debug)]
pub struct AuditOutcome {
    pub id: i64,
    pub status: Status,
    /// The stored audit; `None` when collection failed (see `error`).
    pub view: Option<AuditView>,
    /// Why collection failed, or which optional sources failed (a degraded
    /// audit), with their causes.
    pub error: Option<String>,
}

/// Files to write after each audit.
#[derive(Debug, Clone, Default)]
pub struct Exports {
    pub json: Option<PathBuf>,
    pub html: Option<PathBuf>,
    pub prometheus: Option<PathBuf>,
}

impl Exports {
    /// Write every requested export of `view`, each atomically.
    pub fn write(&self, view: &AuditView) -> Result<(), AuditError> {
        let export = |path: &Path, text: &str, readers| {
            write_atomic(path, text.as_bytes(), readers)
                .map_err(|source| AuditError::Export { path: path.into(), source })
        };
        if let Some(path) = &self.json {
            export(path, &audit_json(view), Readers::Private)?;
        }
        if let Some(path) = &self.html {
            export(path, &html::render(view)?, Readers::Private)?;
        }
        if let Some(path) = &self.prometheus {
            export(path, &prometheus::render(view), Readers::Everyone)?;
        }
        Ok(())
    }
}

/// One audit: snapshot, check, store, diff.
pub fn audit(
    history: &mut History,
    origin: &SnapshotOrigin,
    target: Option<&str>,
    check: &dyn Fn(&Snapshot) -> CheckResult,
) -> Result<AuditOutcome, AuditError> {
    let clock = Instant::now();
    let started_at_ms = now_ms();
    // The audit is recorded as running before collection, which can take a
    // while; a replay is read first, as its host name is the default target.
    let (target, replayed) = match (target, origin) {
        (Some(target), _) => (target.to_string(), None),
        (None, SnapshotOrigin::Replay(path)) => {
            let loaded = perfsage_snapshot::load(path).map_err(SourceError::from);
            (loaded.as_ref().map_or_else(|_| local_hostname(), |s| s.meta.hostname.clone()), Some(loaded))
        }
        (None, SnapshotOrigin::Collect(_)) => (local_hostname(), None),
    };
    let id = history.begin(&target, started_at_ms)?;
    let obtained = match replayed {
        Some(loaded) => loaded.map(|snapshot| (snapshot, Vec::new())),
        None => obtain(origin),
    };
    let elapsed_ms = || clock.elapsed().as_millis() as i64;
    let (snapshot, source_failures) = match obtained {
        Ok(obtained) => obtained,
        Err(error) => {
            let message = error_chain(&error);
            history.fail(id, &message, elapsed_ms())?;
            return Ok(AuditOutcome { id, status: Status::Failed, view: None, error: Some(message) });
        }
    };
    let result = check(&snapshot);
    let failures = result.plugins.iter().filter(|p| p.status == perfsage_ranking::PluginStatus::Failed).count();
    let report = Report::new(result, snapshot.meta.clone());
    history.complete(id, &report, &snapshot, elapsed_ms(), failures, &source_failures)?;
    let view = AuditView::load(history, id)?;
    let error = view.summary.error.clone();
    Ok(AuditOutcome { id, status: view.summary.status, view: Some(view), error })
}

/// The snapshot, and the optional sources that failed on the way.
fn obtain(origin: &SnapshotOrigin) -> Result<(Snapshot, Vec<String>), SourceError> {
    Ok(match origin {
        SnapshotOrigin::Replay(path) => (perfsage_snapshot::load(path)?, Vec::new()),
        SnapshotOrigin::Collect(options) => {
            let collected = sources::collect(options)?;
            for warning in &collected.warnings {
                log::warn!("source: {warning}");
            }
            for failure in &collected.failures {
                log::warn!("source failed: {failure}");
            }
            (collected.snapshot, collected.failures)
        }
    })
}

/// Delete audits older than `keep`; returns how many went.
pub fn prune(history: &History, keep: Duration) -> Result<usize, HistoryError> {
    history.prune(now_ms() - keep.as_millis() as i64)
}

/// The exclusive right to audit into one state directory, held while alive.
#[derive(Debug)]
pub struct AuditLock {
    _file: File,
}

impl AuditLock {
    /// Take the lock, or fail at once if another process holds it.
    pub fn acquire(state_dir: &Path) -> Result<AuditLock, AuditError> {
        let path = state_dir.join("audit.lock");
        let locked = perfsage_private::ensure_dir(state_dir)
            .and_then(|_| perfsage_private::open_file(&path, File::options().create(true).truncate(false).write(true)));
        let file = locked.map_err(|source| AuditError::Lock { path: path.clone(), source })?;
        match file.try_lock() {
            Ok(()) => Ok(AuditLock { _file: file }),
            Err(std::fs::TryLockError::WouldBlock) => Err(AuditError::Busy { path }),
            Err(std::fs::TryLockError::Error(source)) => Err(AuditError::Lock { path, source }),
        }
    }
}

fn now_ms() -> i64 {
    SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

fn local_hostname() -> String {
    hostname::get().map_or_else(|_| "localhost".to_string(), |h| h.to_string_lossy().into_owned())
}
