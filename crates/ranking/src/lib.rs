//! Ranking: which action to take first.
//!
//! An action scores `severity weight × impact × confidence ÷ cost(effort, risk)`;
//! a finding scores as its best action. Findings are ordered by score, then by
//! severity, rule, target and title, so the order is total and two runs on the
//! same input agree. An action that several findings propose for the same
//! target (same id and target) is kept once, under the highest-ranked
//! finding, with every finding's evidence and every proposing rule.
//!
//! Pure: no I/O, no clocks.
//!
//! [`outcome`] holds what a check produces around the ranked findings: every
//! plugin's status, and the verdict `--fail-on` turns into an exit code.

mod outcome;
mod rank;

pub use outcome::{CheckResult, PluginRun, PluginStatus, Verdict};
pub use rank::{RankedAction, RankedFinding, action_score, cost, rank, severity_weight};
