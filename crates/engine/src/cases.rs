//! Rule test cases: a snapshot in, the expected findings out, in the spirit
//! of `promtool test rules`.
//!
//! A case file names a plugin and lists cases; each case gives a snapshot
//! (a file relative to the case file, or inline sections), optional parameter
//! overrides, and the findings it must produce, matched by (rule, target)
//! with equal severity and equal sets of action ids:
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
//!
//! [[case]]
//! name = "an inline snapshot: only the sections the rule reads"
//! expect = []
//! [case.snapshot.cpu]
//! logical_cores = 4
//! utilization_pct = 12.0
//! per_core_pct = [10.0, 14.0, 11.0, 13.0]
//! load1 = 0.4
//! load5 = 0.3
//! load15 = 0.2
//! ```
//!
//! An inline snapshot is written like the JSON of `perfsage snapshot` (same
//! field names), in TOML; its `meta` may be left out or given in part, and the
//! rest of `meta` is filled from [`inline_meta_defaults`].
//!
//! Cases run through the real sandbox, exactly as `perfsage check` would run
//! the plugin, and every difference is reported as a readable line naming the
//! finding and the field that differs.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::plans::{PlanError, SeverityName, resolve_params};
use crate::runtime::{LoadedPlugin, PluginError, Runtime};
use perfsage_model::{Finding, Meta, SCHEMA_VERSION, Snapshot};
use perfsage_snapshot::{self as snapshot, SnapshotError};

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
    pub snapshot: CaseSnapshot,
    #[serde(default)]
    pub config: toml::Table,
    pub expect: Vec<Expected>,
}

/// Where a case's snapshot comes from.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum CaseSnapshot {
    /// A snapshot file, relative to the case file.
    File(PathBuf),
    /// Snapshot sections written in the case itself.
    Inline(toml::Table),
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
    #[error("{path}, case `{case}`: the inline snapshot is not a valid snapshot: {message}")]
    InlineSnapshot { path: PathBuf, case: String, message: String },
    #[error(transparent)]
    Config(#[from] PlanError),
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
            let snapshot = match &case.snapshot {
                CaseSnapshot::File(file) => snapshot::load(&dir.join(file))?,
                CaseSnapshot::Inline(sections) => inline_snapshot(sections).map_err(|message| {
                    CaseError::InlineSnapshot { path: path.into(), case: case.name.clone(), message }
                })?,
            };
            let config = resolve_params(&plugin.info, &case.config)?;
            let differences = match check_like_the_cli(runtime, plugin, &snapshot, &config) {
                Ok(findings) => compare(&findings, &case.expect),
                Err(error) => vec![format!("the plugin failed: {error}")],
            };
            Ok(CaseOutcome { name: case.name.clone(), differences })
        })
        .collect()
}

/// What an inline snapshot's `meta` holds unless the case says otherwise.
pub fn inline_meta_defaults() -> Meta {
    Meta {
        schema_version: SCHEMA_VERSION,
        taken_at_ms: 0,
        window_ms: 60_000,
        hostname: "case".into(),
        os: String::new(),
        kernel: String::new(),
        sources: vec!["case".into()],
    }
}

/// A snapshot from inline TOML sections, `meta` completed from the defaults.
/// A field the model does not have is an error, not silently dropped (a
/// misspelt optional field would otherwise read as absent).
fn inline_snapshot(sections: &toml::Table) -> Result<Snapshot, String> {
    let serde_json::Value::Object(mut written) = serde_json::to_value(sections).map_err(|e| e.to_string())? else {
        unreachable!("a TOML table is an object")
    };
    let serde_json::Value::Object(mut meta) =
        serde_json::to_value(inline_meta_defaults()).map_err(|e| e.to_string())?
    else {
        unreachable!("meta is a record")
    };
    match written.remove("meta") {
        None => {}
        Some(serde_json::Value::Object(given)) => meta.extend(given),
        Some(_) => return Err("`meta` must be a table".into()),
    }
    written.insert("meta".into(), serde_json::Value::Object(meta));
    let written = serde_json::Value::Object(written);
    let snapshot: Snapshot = serde_json::from_value(written.clone()).map_err(|e| e.to_string())?;
    let understood = serde_json::to_value(&snapshot).map_err(|e| e.to_string())?;
    match unknown_fields(&written, &understood, "") {
        unknown if unknown.is_empty() => Ok(snapshot),
        unknown => Err(format!("unknown field(s): {}", unknown.join(", "))),
    }
}

/// Paths of the object keys in `written` that `understood` lacks.
fn unknown_fields(written: &serde_json::Value, understood: &serde_json::Value, at: &str) -> Vec<String> {
    use serde_json::Value;
    match (written, understood) {
        (Value::Object(w), Value::Object(u)) => w
            .iter()
            .flat_map(|(key, value)| {
                let path = if at.is_empty() { key.clone() } else { format!("{at}.{key}") };
                match u.get(key) {
                    Some(known) => unknown_fields(value, known, &path),
                    None => vec![path],
                }
            })
            .collect(),
        (Value::Array(w), Value::Array(u)) => {
            w.iter().zip(u).enumerate().flat_map(|(i, (w, u))| unknown_fields(w, u, &format!("{at}[{i}]"))).collect()
        }
        _ => Vec::new(),
    }
}

/// The plugin sees what it would see in `perfsage check`: its sections only.
fn check_like_the_cli(
    runtime: &Runtime,
    plugin: &LoadedPlugin,
    snapshot: &Snapshot,
    config: &[perfsage_model::ConfigEntry],
) -> Result<Vec<Finding>, PluginError> {
    let sections: Vec<_> = plugin.info.needs.iter().chain(&plugin.info.uses).copied().collect();
    runtime.check(plugin, &snapshot.only(&sections), config)
}

/// Every difference between the findings and the expectations, one line each.
///
/// Findings are matched by (rule, target). An expectation whose rule was
/// raised once on another target (and expected once) is paired with that
/// finding, so the difference reads as a wrong target rather than one missing
/// and one unexpected finding.
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
    let mut unexpected: BTreeMap<String, &Finding> =
        actual.iter().filter(|(k, _)| !wanted.contains_key(*k)).map(|(k, f)| (k.clone(), *f)).collect();
    let unmet_of_rule = |rule: &str| wanted.iter().filter(|(k, e)| e.rule == rule && !actual.contains_key(*k)).count();
    for (k, e) in &wanted {
        if let Some(f) = actual.get(k) {
            differences.extend(field_differences(k, f, e));
            continue;
        }
        let raised_elsewhere: Vec<String> =
            unexpected.iter().filter(|(_, f)| f.rule == e.rule).map(|(k, _)| k.clone()).collect();
        match raised_elsewhere.as_slice() {
            [other] if unmet_of_rule(&e.rule) == 1 => {
                let f = unexpected.remove(other).expect("listed above");
                differences.push(format!("finding {k}: target: expected {:?}, got {:?}", e.target, f.target));
                differences.extend(field_differences(k, f, e));
            }
            _ => differences.push(format!("missing finding {k}: expected severity {}", severity_name(e.severity))),
        }
    }
    for (k, f) in &unexpected {
        differences.push(format!("unexpected finding {k}: severity {}, \"{}\"", f.severity.as_str(), f.title));
    }
    differences
}

/// Differences in severity and action ids between a finding and its expectation.
fn field_differences(k: &str, f: &Finding, e: &Expected) -> Vec<String> {
    let mut differences = Vec::new();
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
    differences
}

fn severity_name(severity: SeverityName) -> &'static str {
    perfsage_model::Severity::from(severity).as_str()
}

/// The outcomes of one case file, as the reports below show them.
#[derive(Debug, Clone)]
pub struct CaseFileOutcome {
    pub path: PathBuf,
    pub plugin: String,
    pub outcomes: Vec<CaseOutcome>,
}

impl CaseFileOutcome {
    pub fn failed(&self) -> usize {
        self.outcomes.iter().filter(|o| !o.passed()).count()
    }
}

/// One line per case, each difference indented under its failing case, and a
/// closing count.
pub fn render_text(files: &[CaseFileOutcome]) -> String {
    let mut out = String::new();
    for file in files {
        out.push_str(&format!("{} (plugin {})\n", file.path.display(), file.plugin));
        for outcome in &file.outcomes {
            out.push_str(&format!("  {}  {}\n", if outcome.passed() { "ok  " } else { "FAIL" }, outcome.name));
            for difference in &outcome.differences {
                out.push_str(&format!("          {difference}\n"));
            }
        }
    }
    let total: usize = files.iter().map(|f| f.outcomes.len()).sum();
    let failed: usize = files.iter().map(CaseFileOutcome::failed).sum();
    match failed {
        0 => out.push_str(&format!("all {total} cases passed\n")),
        _ => out.push_str(&format!("{failed} of {total} cases failed\n")),
    }
    out
}

/// JUnit XML for CI: a test suite per case file, a test case per case, each
/// failure carrying its differences.
pub fn render_junit(files: &[CaseFileOutcome]) -> Result<String, quick_junit::SerializeError> {
    use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};
    let mut report = Report::new("perfsage plugin test");
    for file in files {
        let mut suite = TestSuite::new(file.path.display().to_string());
        for outcome in &file.outcomes {
            let status = if outcome.passed() {
                TestCaseStatus::success()
            } else {
                let mut status = TestCaseStatus::non_success(NonSuccessKind::Failure);
                status.set_message(outcome.differences[0].clone()).set_description(outcome.differences.join("\n"));
                status
            };
            let mut case = TestCase::new(outcome.name.clone(), status);
            case.set_classname(file.plugin.clone());
            suite.add_test_case(case);
        }
        report.add_test_suite(suite);
    }
    report.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use perfsage_model::{Action, Category, Level, Severity};

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

    #[test]
    fn a_finding_on_another_target_is_a_target_difference() {
        let mut found = finding("cpu/a", Severity::High, &["x"]);
        found.target = "disk /var".into();
        let differences = compare(&[found], &[expected("cpu/a", SeverityName::Medium, &["x"])]);
        assert_eq!(
            differences,
            [
                "finding (cpu/a, cpu): target: expected \"cpu\", got \"disk /var\"",
                "finding (cpu/a, cpu): severity: expected medium, got high",
            ]
        );
    }

    #[test]
    fn inline_snapshots_complete_meta_and_reject_unknown_fields() {
        let file: CaseFile = toml::from_str(
            r#"
            plugin = "cpu"
            [[case]]
            name = "inline"
            expect = []
            [case.snapshot.meta]
            window_ms = 1000
            [case.snapshot.memory]
            total_bytes = 8
            used_bytes = 4
            available_bytes = 4
            swap_total_bytes = 0
            swap_used_bytes = 0
            "#,
        )
        .unwrap();
        let CaseSnapshot::Inline(sections) = &file.cases[0].snapshot else { panic!("not inline") };
        let snapshot = inline_snapshot(sections).unwrap();
        assert_eq!(snapshot.meta.window_ms, 1000);
        assert_eq!(snapshot.meta.schema_version, SCHEMA_VERSION);
        assert_eq!(snapshot.memory.unwrap().available_bytes, 4);
        assert!(snapshot.cpu.is_none());

        let mut wrong = sections.clone();
        wrong.insert("gpu".into(), toml::Value::Table(toml::Table::new()));
        let memory = wrong["memory"].as_table().unwrap().clone();
        let mut misspelt = memory.clone();
        misspelt.insert("oom_kill".into(), toml::Value::Integer(3));
        wrong.insert("memory".into(), toml::Value::Table(misspelt));
        assert_eq!(inline_snapshot(&wrong).unwrap_err(), "unknown field(s): gpu, memory.oom_kill");
    }
}
