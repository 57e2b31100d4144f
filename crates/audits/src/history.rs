//! The audit history: one SQLite file (`history.sqlite3` in the state
//! directory) holding every audit's report and snapshot as JSON, plus one
//! indexed row per finding, keyed by its identity across audits
//! `(rule, target)`, for diffing and trends.
//!
//! Crash safety comes from SQLite itself: WAL journal, `synchronous = FULL`,
//! and one transaction per state change. An audit is first committed as
//! `running`; its result (report, snapshot, finding rows, final status) is
//! committed in one transaction. A process killed at any point leaves either
//! the `running` row or the whole result, never half of it; the next audit
//! process (the only writer, under the audit lock) marks leftover `running`
//! rows `interrupted`.

use std::path::{Path, PathBuf};

use rusqlite::{Connection, OptionalExtension, params};

use perfsage_model::Snapshot;
use perfsage_reports::Report;

/// The history's file name inside the state directory.
pub const HISTORY_FILE: &str = "history.sqlite3";

/// Bumped when the tables change; a newer file is refused, not misread.
const SCHEMA_VERSION: i64 = 1;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS audits (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    target          TEXT    NOT NULL,
    started_at_ms   INTEGER NOT NULL,
    duration_ms     INTEGER,
    status          TEXT    NOT NULL,
    error           TEXT,
    plugin_failures INTEGER NOT NULL DEFAULT 0,
    report_json     TEXT,
    snapshot_json   TEXT
);
CREATE INDEX IF NOT EXISTS audits_by_target ON audits (target, id);
CREATE TABLE IF NOT EXISTS findings (
    audit_id INTEGER NOT NULL REFERENCES audits (id) ON DELETE CASCADE,
    rule     TEXT    NOT NULL,
    target   TEXT    NOT NULL,
    severity TEXT    NOT NULL,
    score    REAL    NOT NULL,
    title    TEXT    NOT NULL,
    PRIMARY KEY (audit_id, rule, target)
);
";

#[derive(Debug, thiserror::Error)]
pub enum HistoryError {
    #[error("cannot create the state directory {path}")]
    StateDir { path: PathBuf, source: std::io::Error },
    #[error("cannot open the audit history {path}")]
    Open { path: PathBuf, source: rusqlite::Error },
    #[error("the audit history {path} has schema version {found}; this perfsage reads version {SCHEMA_VERSION}")]
    Version { path: PathBuf, found: i64 },
    #[error("audit history query failed")]
    Query(#[from] rusqlite::Error),
    #[error("audit {0} is not in the history")]
    NoSuchAudit(i64),
    #[error("audit {id} has no report (its status is {status})")]
    NoReport { id: i64, status: Status },
    #[error("the stored report of audit {id} is unreadable")]
    Corrupt { id: i64, source: serde_json::Error },
}

/// Where an audit stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Started; its result is not (yet) committed.
    Running,
    /// Checked with every plugin and source working.
    Complete,
    /// Checked, but a plugin or source failed.
    Degraded,
    /// No snapshot: the source failed; `error` says why.
    Failed,
    /// The process died while it ran.
    Interrupted,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Running => "running",
            Status::Complete => "complete",
            Status::Degraded => "degraded",
            Status::Failed => "failed",
            Status::Interrupted => "interrupted",
        }
    }

    fn parse(text: &str) -> Status {
        match text {
            "running" => Status::Running,
            "complete" => Status::Complete,
            "degraded" => Status::Degraded,
            "failed" => Status::Failed,
            _ => Status::Interrupted,
        }
    }

    /// Whether the audit has a report (and so takes part in diffs and trends).
    pub fn has_report(self) -> bool {
        matches!(self, Status::Complete | Status::Degraded)
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One audit as `perfsage history` lists it.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct AuditSummary {
    pub id: i64,
    pub target: String,
    pub started_at_ms: i64,
    pub duration_ms: Option<i64>,
    pub status: Status,
    pub error: Option<String>,
    pub plugin_failures: i64,
    /// Findings per severity, lowest first (as in [`Severity::ALL`]).
    pub by_severity: [i64; 5],
}

impl AuditSummary {
    pub fn findings(&self) -> i64 {
        self.by_severity.iter().sum()
    }
}

/// A finding's row: its identity across audits and what changes between them.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct FindingRow {
    pub rule: String,
    pub target: String,
    pub severity: String,
    pub score: f64,
    pub title: String,
}

/// A stored audit with its report and snapshot.
#[derive(Debug, Clone)]
pub struct StoredAudit {
    pub summary: AuditSummary,
    pub report: Report,
    pub snapshot: Snapshot,
}

pub struct History {
    connection: Connection,
}

impl History {
    /// Open (creating if needed) the history in `state_dir`.
    pub fn open(state_dir: &Path) -> Result<History, HistoryError> {
        let path = state_dir.join(HISTORY_FILE);
        perfsage_private::ensure_dir(state_dir)
            .map_err(|source| HistoryError::StateDir { path: state_dir.into(), source })?;
        // Created 0600 before SQLite sees it (SQLite would create it 0644
        // minus the umask), since it holds reports, snapshots and query texts;
        // SQLite gives the WAL and shared-memory files the database's mode.
        perfsage_private::open_file(&path, std::fs::OpenOptions::new().read(true).write(true).create(true))
            .map_err(|source| HistoryError::StateDir { path: path.clone(), source })?;
        let open = || -> rusqlite::Result<Connection> {
            let connection = Connection::open(&path)?;
            connection.busy_timeout(std::time::Duration::from_secs(10))?;
            connection.pragma_update(None, "journal_mode", "WAL")?;
            connection.pragma_update(None, "synchronous", "FULL")?;
            connection.pragma_update(None, "foreign_keys", true)?;
            Ok(connection)
        };
        let connection = open().map_err(|source| HistoryError::Open { path: path.clone(), source })?;
        // Files an older perfsage (or SQLite before the database was 0600) left readable.
        for suffix in ["", "-wal", "-shm"] {
            let file = PathBuf::from(format!("{}{suffix}", path.display()));
            perfsage_private::restrict_file(&file).map_err(|source| HistoryError::StateDir { path: file, source })?;
        }
        let found: i64 = connection.pragma_query_value(None, "user_version", |row| row.get(0))?;
        if found > SCHEMA_VERSION {
            return Err(HistoryError::Version { path, found });
        }
        if found < SCHEMA_VERSION {
            connection.execute_batch(SCHEMA)?;
            connection.pragma_update(None, "user_version", SCHEMA_VERSION)?;
        }
        Ok(History { connection })
    }

    /// Mark audits left `running` by a process that died as `interrupted`.
    /// Only the holder of the audit lock may call this (a `running` audit of
    /// a live process is not interrupted).
    pub fn mark_interrupted(&self) -> Result<usize, HistoryError> {
        Ok(self.connection.execute("UPDATE audits SET status = 'interrupted' WHERE status = 'running'", [])?)
    }

    /// Record that an audit of `target` started; returns its id.
    pub fn begin(&self, target: &str, started_at_ms: i64) -> Result<i64, HistoryError> {
        self.connection.execute(
            "INSERT INTO audits (target, started_at_ms, status) VALUES (?1, ?2, 'running')",
            params![target, started_at_ms],
        )?;
        Ok(self.connection.last_insert_rowid())
    }

    /// Record a checked audit: report, snapshot and finding rows, in one
    /// transaction. Failed plugins or sources make it `degraded`; the sources'
    /// failures are its `error`, one per line.
    pub fn complete(
        &mut self,
        id: i64,
        report: &Report,
        snapshot: &Snapshot,
        duration_ms: i64,
        plugin_failures: usize,
        source_failures: &[String],
    ) -> Result<(), HistoryError> {
        let degraded = plugin_failures > 0 || !source_failures.is_empty();
        let status = if degraded { Status::Degraded } else { Status::Complete };
        let error = (!source_failures.is_empty()).then(|| source_failures.join("\n"));
        let report_json = serde_json::to_string(report).expect("a report always serializes");
        let snapshot_json = serde_json::to_string(snapshot).expect("a snapshot always serializes");
        let transaction = self.connection.transaction()?;
        transaction.execute(
            "UPDATE audits SET status = ?2, duration_ms = ?3, plugin_failures = ?4,
                               report_json = ?5, snapshot_json = ?6, error = ?7 WHERE id = ?1",
            params![id, status.as_str(), duration_ms, plugin_failures as i64, report_json, snapshot_json, error],
        )?;
        {
            // Findings come ranked, best first: on a duplicate identity the best one stays.
            let mut insert = transaction.prepare(
                "INSERT OR IGNORE INTO findings (audit_id, rule, target, severity, score, title)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?;
            for f in &report.findings {
                insert.execute(params![id, f.rule, f.target, f.severity, f.score, f.title])?;
            }
        }
        transaction.commit()?;
        Ok(())
    }

    /// Record an audit that got no snapshot.
    pub fn fail(&self, id: i64, error: &str, duration_ms: i64) -> Result<(), HistoryError> {
        self.connection.execute(
            "UPDATE audits SET status = 'failed', error = ?2, duration_ms = ?3 WHERE id = ?1",
            params![id, error, duration_ms],
        )?;
        Ok(())
    }

    /// The finding rows of an audit, in (rule, target) order.
    pub fn findings(&self, id: i64) -> Result<Vec<FindingRow>, HistoryError> {
        let mut statement = self.connection.prepare(
            "SELECT rule, target, severity, score, title FROM findings WHERE audit_id = ?1 ORDER BY rule, target",
        )?;
        let rows = statement.query_map([id], |row| {
            Ok(FindingRow {
                rule: row.get(0)?,
                target: row.get(1)?,
                severity: row.get(2)?,
                score: row.get(3)?,
                title: row.get(4)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// The latest audit of `target` before `id` that has a report.
    pub fn previous(&self, target: &str, id: i64) -> Result<Option<i64>, HistoryError> {
        Ok(self
            .connection
            .query_row(
                "SELECT id FROM audits WHERE target = ?1 AND id < ?2 AND status IN ('complete', 'degraded')
                 ORDER BY id DESC LIMIT 1",
                params![target, id],
                |row| row.get(0),
            )
            .optional()?)
    }

    /// Audits, newest first, optionally of one target and up to `id`.
    pub fn list(
        &self,
        target: Option<&str>,
        up_to: Option<i64>,
        limit: usize,
    ) -> Result<Vec<AuditSummary>, HistoryError> {
        let mut statement = self.connection.prepare(
            "SELECT a.id, a.target, a.started_at_ms, a.duration_ms, a.status, a.error, a.plugin_failures,
                    COUNT(CASE f.severity WHEN 'info' THEN 1 END),
                    COUNT(CASE f.severity WHEN 'low' THEN 1 END),
                    COUNT(CASE f.severity WHEN 'medium' THEN 1 END),
                    COUNT(CASE f.severity WHEN 'high' THEN 1 END),
                    COUNT(CASE f.severity WHEN 'critical' THEN 1 END)
             FROM audits a LEFT JOIN findings f ON f.audit_id = a.id
             WHERE (?1 IS NULL OR a.target = ?1) AND (?2 IS NULL OR a.id <= ?2)
             GROUP BY a.id ORDER BY a.id DESC LIMIT ?3",
        )?;
        let rows = statement.query_map(params![target, up_to, limit as i64], |row| {
            Ok(AuditSummary {
                id: row.get(0)?,
                target: row.get(1)?,
                started_at_ms: row.get(2)?,
                duration_ms: row.get(3)?,
                status: Status::parse(&row.get::<_, String>(4)?),
                error: row.get(5)?,
                plugin_failures: row.get(6)?,
                by_severity: [row.get(7)?, row.get(8)?, row.get(9)?, row.get(10)?, row.get(11)?],
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// One audit's summary.
    pub fn summary(&self, id: i64) -> Result<AuditSummary, HistoryError> {
        let target: Option<String> =
            self.connection.query_row("SELECT target FROM audits WHERE id = ?1", [id], |row| row.get(0)).optional()?;
        let target = target.ok_or(HistoryError::NoSuchAudit(id))?;
        let mut found = self.list(Some(&target), Some(id), 1)?;
        found.pop().ok_or(HistoryError::NoSuchAudit(id))
    }

    /// One audit with its report and snapshot.
    pub fn load(&self, id: i64) -> Result<StoredAudit, HistoryError> {
        let summary = self.summary(id)?;
        let (report, snapshot): (Option<String>, Option<String>) =
            self.connection.query_row("SELECT report_json, snapshot_json FROM audits WHERE id = ?1", [id], |row| {
                Ok((row.get(0)?, row.get(1)?))
            })?;
        let (Some(report), Some(snapshot)) = (report, snapshot) else {
            return Err(HistoryError::NoReport { id, status: summary.status });
        };
        let corrupt = |source| HistoryError::Corrupt { id, source };
        Ok(StoredAudit {
            report: serde_json::from_str(&report).map_err(corrupt)?,
            snapshot: serde_json::from_str(&snapshot).map_err(corrupt)?,
            summary,
        })
    }

    /// Delete audits that started before `cutoff_ms`; returns how many. A
    /// target's newest audit always stays, however old: an audit that took
    /// longer than `--keep` never prunes itself, and the next audit of a
    /// target that was not audited for a while still has its previous one.
    pub fn prune(&self, cutoff_ms: i64) -> Result<usize, HistoryError> {
        Ok(self.connection.execute(
            "DELETE FROM audits WHERE started_at_ms < ?1 AND status != 'running'
               AND id NOT IN (SELECT MAX(id) FROM audits GROUP BY target)",
            [cutoff_ms],
        )?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use perfsage_model::Meta;
    use perfsage_ranking::CheckResult;

    fn empty_report() -> (Report, Snapshot) {
        let meta = Meta {
            schema_version: perfsage_model::SCHEMA_VERSION,
            taken_at_ms: 0,
            window_ms: 0,
            hostname: "web".into(),
            os: String::new(),
            kernel: String::new(),
            sources: Vec::new(),
        };
        let report = Report::new(CheckResult { findings: Vec::new(), plugins: Vec::new() }, meta.clone());
        (report, Snapshot::empty(meta))
    }

    #[test]
    fn the_database_and_its_wal_and_shm_files_are_0600_under_umask_022() {
        use std::os::unix::fs::{MetadataExt, PermissionsExt};
        // SAFETY: umask has no preconditions; 022 is the usual default, so
        // other tests running meanwhile see nothing unusual.
        unsafe { libc::umask(0o022) };
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("state");
        let history = History::open(&state).unwrap();
        history.begin("web", 1).unwrap();
        let mode = |name: &str| std::fs::metadata(state.join(name)).unwrap().mode() & 0o7777;
        assert_eq!(mode(""), 0o700);
        // While the connection is open, WAL mode keeps all three files.
        for name in [HISTORY_FILE, "history.sqlite3-wal", "history.sqlite3-shm"] {
            assert_eq!(mode(name), 0o600, "{name}");
        }
        drop(history);
        // A database an older perfsage left readable is closed on open.
        std::fs::set_permissions(state.join(HISTORY_FILE), std::fs::Permissions::from_mode(0o644)).unwrap();
        let _history = History::open(&state).unwrap();
        assert_eq!(mode(HISTORY_FILE), 0o600);
    }

    #[test]
    fn the_previous_audit_is_the_last_one_with_a_report() {
        let dir = tempfile::tempdir().unwrap();
        let mut history = History::open(dir.path()).unwrap();
        let (report, snapshot) = empty_report();
        let first = history.begin("web", 1).unwrap();
        history.complete(first, &report, &snapshot, 5, 0, &[]).unwrap();
        let failed = history.begin("web", 2).unwrap();
        history.fail(failed, "no snapshot", 1).unwrap();
        let other_target = history.begin("db", 3).unwrap();
        history.complete(other_target, &report, &snapshot, 5, 0, &[]).unwrap();
        let died = history.begin("web", 4).unwrap();
        assert_eq!(history.mark_interrupted().unwrap(), 1);
        assert_eq!(history.summary(died).unwrap().status, Status::Interrupted);
        let current = history.begin("web", 5).unwrap();
        assert_eq!(history.previous("web", current).unwrap(), Some(first));
        assert_eq!(history.previous("web", first).unwrap(), None);
    }

    #[test]
    fn pruning_deletes_old_audits_but_not_running_ones() {
        let dir = tempfile::tempdir().unwrap();
        let mut history = History::open(dir.path()).unwrap();
        let (report, snapshot) = empty_report();
        let old = history.begin("web", 1_000).unwrap();
        history.complete(old, &report, &snapshot, 5, 0, &[]).unwrap();
        let running = history.begin("web", 1_000).unwrap();
        let recent = history.begin("web", 9_000).unwrap();
        history.complete(recent, &report, &snapshot, 5, 0, &[]).unwrap();
        assert_eq!(history.prune(5_000).unwrap(), 1);
        let left: Vec<i64> = history.list(None, None, 10).unwrap().iter().map(|a| a.id).collect();
        assert_eq!(left, [recent, running]);
    }

    #[test]
    fn pruning_keeps_each_targets_newest_audit_however_old() {
        let dir = tempfile::tempdir().unwrap();
        let mut history = History::open(dir.path()).unwrap();
        let (report, snapshot) = empty_report();
        let mut audit = |target: &str, at: i64| {
            let id = history.begin(target, at).unwrap();
            history.complete(id, &report, &snapshot, 5, 0, &[]).unwrap();
            id
        };
        let (_, web_newest, db_only) = (audit("web", 1_000), audit("web", 2_000), audit("db", 1_500));
        assert_eq!(history.prune(10_000).unwrap(), 1, "only web's older audit goes");
        let mut left: Vec<i64> = history.list(None, None, 10).unwrap().iter().map(|a| a.id).collect();
        left.sort();
        assert_eq!(left, [web_newest, db_only]);
    }

    #[test]
    fn a_failed_source_makes_a_checked_audit_degraded_with_its_cause() {
        let dir = tempfile::tempdir().unwrap();
        let mut history = History::open(dir.path()).unwrap();
        let (report, snapshot) = empty_report();
        let id = history.begin("web", 1).unwrap();
        let failures = ["postgresql:db:5432/shop: timed out after 30 s connecting".to_string(), "b".to_string()];
        history.complete(id, &report, &snapshot, 5, 0, &failures).unwrap();
        let summary = history.summary(id).unwrap();
        assert_eq!(summary.status, Status::Degraded);
        assert_eq!(summary.error.as_deref(), Some("postgresql:db:5432/shop: timed out after 30 s connecting\nb"));
        assert!(summary.status.has_report(), "a degraded audit still has its report");
    }
}
