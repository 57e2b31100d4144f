//! Rule test cases: a snapshot in, the expected findings out, in the spirit
//! of `promtool test rules`.
//!
//! A case file names a plugin and lists cases; each case gives a snapshot
//! file (relative to the case file), optional parameter overrides, and the
//! findings it must produce, matched by (rule, target) with equal severity and
//! equal sets of action ids:
//!
//! ```toml
//! plugin = "cpu"
//!
//! [[case]]
//! name = "saturated run queue"
//! snapshot = "snapshots/cpu-saturated.json"
//! config = { load_per_core_high = 1.5 }
//! [[case.expect]]
//! rule = "cpu/saturation"
//! severity = "high"
//! target = "cpu"
//! actions = ["cpu.add-cores", "cpu.move-top-consumer"]
//!
//! [[case]]
//! name = "idle machine stays silent"
//! snapshot = "snapshots/idle.json"
//! expect = []
//! ```
//!
//! Cases run through the real sandbox, exactly as `perfsage check` would run
//! the plugin, and every difference is reported as a readable line naming the
//! finding and the field that differs.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::model::{Finding, Snapshot};
use crate::plugins::{LoadedPlugin, PluginError, Runtime};
use crate::rulepack::{RulePackError, SeverityName, resolve_params};
use crate::snapshot::{self, SnapshotError};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CaseFile {
    pub plugin: String,
    #[serde(rename = "case")]
    pub cases: Vec<Case>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Case {
    pub name: String,
    /// Snapshot file, relative to the case file.
    pub snapshot: PathBuf,
    #[serde(default)]
    pub config: toml::Table,
    pub expect: Vec<Expected>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expected {
    pub rule: String,
    pub severity: SeverityName,
    pub target: String,
    #[serde(default)]
    pub actions: Vec<String>,
}

/// The result of one case: passed when `differences` is empty.
#[derive(Debug, Clone, PartialEq)]
pub struct CaseOutcome {
    pub name: String,
    pub differences: Vec<String>,
}

impl CaseOutcome {
    pub fn passed(&self) -> bool {
        self.differences.is_empty()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CaseError {
    #[error("cannot read case file {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("{path} is not a valid case file: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("{path} tests plugin `{named}`, but the plugin under test is `{loaded}`")]
    WrongPlugin { path: PathBuf, named: String, loaded: String },
    #[error(transparent)]
    Snapshot(#[from] SnapshotError),
    #[error(transparent)]
    Config(#[from] RulePackError),
}

impl CaseFile {
    pub fn load(path: &Path) -> Result<Self, CaseError> {
        let text = std::fs::read_to_string(path).map_err(|source| CaseError::Read { path: path.into(), source })?;
        toml::from_str(&text).map_err(|e| CaseError::Parse { path: path.into(), message: e.to_string() })
    }
}

/// Run every case of the file at `path` against `plugin`.
pub fn run_case_file(runtime: &Runtime, plugin: &LoadedPlugin, path: &Path) -> Result<Vec<CaseOutcome>, CaseError> {
    let file = CaseFile::load(path)?;
    if file.plugin != plugin.info.name {
        return Err(CaseError::WrongPlugin { path: path.into(), named: file.plugin, loaded: plugin.info.name.clone() });
    }
    let dir = path.parent().unwrap_or(Path::new("."));
    file.cases
        .iter()
        .map(|case| {
            let snapshot = snapshot::load(&dir.join(&case.snapshot))?;
            let config = resolve_params(&plugin.info, &case.config)?;
            let differences = match check_like_the_cli(runtime, plugin, &snapshot, &config) {
                Ok(findings) => compare(&findings, &case.expect),
                Err(error) => vec![format!("the plugin failed: {error}")],
            };
            Ok(CaseOutcome { name: case.name.clone(), differences })
        })
        .collect()
}

/// The plugin sees what it would see in `perfsage check`: its sections only.
fn check_like_the_cli(
    runtime: &Runtime,
    plugin: &LoadedPlugin,
    snapshot: &Snapshot,
    config: &[crate::model::ConfigEntry],
) -> Result<Vec<Finding>, PluginError> {
    let sections: Vec<_> = plugin.info.needs.iter().chain(&plugin.info.uses).copied().collect();
    runtime.check(plugin, &snapshot.only(&sections), config)
}

/// Every difference between the findings and the expectations, one line each.
pub fn compare(findings: &[Finding], expected: &[Expected]) -> Vec<String> {
    let key = |rule: &str, target: &str| format!("({rule}, {target})");
    let mut actual: BTreeMap<String, &Finding> = BTreeMap::new();
    let mut differences = Vec::new();
    for f in findings {
        if actual.insert(key(&f.rule, &f.target), f).is_some() {
            differences.push(format!("finding {} was raised twice", key(&f.rule, &f.target)));
        }
    }
    let mut wanted: BTreeMap<String, &Expected> = BTreeMap::new();
    for e in expected {
        wanted.insert(key(&e.rule, &e.target), e);
    }
    for (k, e) in &wanted {
        let Some(f) = actual.get(k) else {
            differences.push(format!("missing finding {k}: expected severity {}", severity_name(e.severity)));
            continue;
        };
        let got = f.severity.as_str();
        let want = severity_name(e.severity);
        if got != want {
            differences.push(format!("finding {k}: severity: expected {want}, got {got}"));
        }
        let got_ids: BTreeSet<&str> = f.actions.iter().map(|a| a.id.as_str()).collect();
        let want_ids: BTreeSet<&str> = e.actions.iter().map(String::as_str).collect();
        if got_ids != want_ids {
            let missing: Vec<&str> = want_ids.difference(&got_ids).copied().collect();
            let extra: Vec<&str> = got_ids.difference(&want_ids).copied().collect();
            differences.push(format!(
                "finding {k}: actions: missing [{}], unexpected [{}]",
                missing.join(", "),
                extra.join(", ")
            ));
        }
    }
    for (k, f) in &actual {
        if !wanted.contains_key(k) {
            differences.push(format!("unexpected finding {k}: severity {}, \"{}\"", f.severity.as_str(), f.title));
        }
    }
    differences
}

fn severity_name(severity: SeverityName) -> &'static str {
    crate::model::Severity::from(severity).as_str()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Action, Category, Level, Severity};

    fn finding(rule: &str, severity: Severity, actions: &[&str]) -> Finding {
        Finding {
            rule: rule.into(),
            title: format!("{rule} title"),
            category: Category::Hardware,
            severity,
            target: "cpu".into(),
            evidence: vec![],
            actions: actions
                .iter()
                .map(|id| Action {
                    id: (*id).into(),
                    title: String::new(),
                    detail: String::new(),
                    category: Category::Hardware,
                    impact: 0.5,
                    confidence: 0.5,
                    effort: Level::Low,
                    risk: Level::Low,
                    hook: None,
                    params: vec![],
                })
                .collect(),
        }
    }

    fn expected(rule: &str, severity: SeverityName, actions: &[&str]) -> Expected {
        Expected {
            rule: rule.into(),
            severity,
            target: "cpu".into(),
            actions: actions.iter().map(|a| a.to_string()).collect(),
        }
    }

    #[test]
    fn equal_findings_have_no_differences() {
        let found = [finding("cpu/a", Severity::High, &["x", "y"])];
        assert!(compare(&found, &[expected("cpu/a", SeverityName::High, &["y", "x"])]).is_empty());
    }

    #[test]
    fn each_difference_names_the_finding_and_the_field() {
        let found = [finding("cpu/a", Severity::Medium, &["x", "z"]), finding("cpu/b", Severity::Low, &[])];
        let differences = compare(
            &found,
            &[expected("cpu/a", SeverityName::High, &["x", "y"]), expected("cpu/c", SeverityName::Low, &[])],
        );
        assert_eq!(
            differences,
            [
                "finding (cpu/a, cpu): severity: expected high, got medium",
                "finding (cpu/a, cpu): actions: missing [y], unexpected [z]",
                "missing finding (cpu/c, cpu): expected severity low",
                "unexpected finding (cpu/b, cpu): severity low, \"cpu/b title\"",
            ]
        );
    }
}
