//! The outcome of a check: the ranked findings and what happened to every
//! plugin. Every plugin ends in exactly one [`PluginStatus`], so a report
//! accounts for all of them.

use perfsage_model::Severity;

use crate::rank::RankedFinding;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PluginStatus {
    /// Checked the snapshot.
    Ok,
    /// Did not run: the snapshot lacks a section it needs.
    Skipped,
    /// Turned off in the rule pack.
    Disabled,
    /// Failed to load or to check; see `error`.
    Failed,
}

/// What happened to one plugin in a check.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct PluginRun {
    pub name: String,
    pub version: String,
    pub origin: String,
    pub status: PluginStatus,
    pub findings: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// The outcome of checking one snapshot.
#[derive(Debug, Clone)]
pub struct CheckResult {
    pub findings: Vec<RankedFinding>,
    /// Every plugin, in name order.
    pub plugins: Vec<PluginRun>,
}

impl CheckResult {
    /// Whether any plugin failed (exit code 3).
    pub fn any_failed(&self) -> bool {
        self.plugins.iter().any(|p| p.status == PluginStatus::Failed)
    }
}

/// How a command ends after a check, as the exit codes say it (see the CLI's
/// `Exit`): an incomplete check outranks findings, since it certifies nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Ran; nothing at or above the threshold.
    Clean,
    /// Ran; a finding at or above the threshold.
    AtThreshold,
    /// A plugin (or a source) failed: the check is incomplete.
    Incomplete,
}

impl CheckResult {
    /// Whether any finding is at or above `threshold` (never, without one).
    pub fn reaches(&self, threshold: Option<Severity>) -> bool {
        threshold.is_some_and(|t| self.findings.iter().any(|f| f.severity.at_least(t)))
    }

    /// The verdict of `--fail-on threshold` over this result.
    pub fn verdict(&self, threshold: Option<Severity>) -> Verdict {
        if self.any_failed() {
            Verdict::Incomplete
        } else if self.reaches(threshold) {
            Verdict::AtThreshold
        } else {
            Verdict::Clean
        }
    }
}
