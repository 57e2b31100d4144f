//! One audit: snapshot, check, store, diff; the audit lock; the exports.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use crate::history::{History, HistoryError, Status};
use crate::html;
use crate::view::AuditView;
use perfsage_model::Snapshot;
use perfsage_ranking::CheckResult;
use perfsage_reports::Report;
use perfsage_snapshot::SnapshotError;
use perfsage_sources::{self as sources, CollectOptions, error_chain};

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
