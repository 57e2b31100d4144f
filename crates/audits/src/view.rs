//! A stored audit with everything its renderings need: the report, the
//! snapshot, the diff against the previous audit and the trend.

use perfsage_model::Snapshot;
use perfsage_reports::Report;

use crate::diff::{self, Diff};
use crate::history::{AuditSummary, History, HistoryError};

/// Past audits drawn in a report's trend chart.
pub const TREND_AUDITS: usize = 50;

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
