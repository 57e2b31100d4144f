//! [`Report`], the public shape of a check's result: `--format json` is its
//! serialization and a stable interface (`findings`, `plugins`,
//! `snapshot_meta`); it deserializes from its own JSON, so a stored report
//! renders again in every format.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer, Serialize};

use perfsage_model::{Evidence, Meta};
use perfsage_ranking::RankedFinding;
use perfsage_ranking::{CheckResult, PluginRun};

use crate::terminal::terminal_safe;

/// Everything a check produced, in report order. It deserializes from its own
/// JSON, so a stored report (audit history) renders again in every format.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Report {
    pub findings: Vec<ReportFinding>,
    pub plugins: Vec<PluginRun>,
    pub snapshot_meta: Meta,
}

/// A severity, category or level name. (An alias, so serde's derive does
/// not take `&'static str` as borrowed from the input: [`vocabulary`] maps
/// stored names back onto these statics.)
pub type Word = &'static str;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ReportFinding {
    pub rule: String,
    pub plugin: String,
    pub title: String,
    #[serde(deserialize_with = "vocabulary")]
    pub severity: Word,
    #[serde(deserialize_with = "vocabulary")]
    pub category: Word,
    pub target: String,
    pub score: f64,
    pub evidence: Vec<Evidence>,
    pub actions: Vec<ReportAction>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ReportAction {
    pub id: String,
    pub title: String,
    pub detail: String,
    #[serde(deserialize_with = "vocabulary")]
    pub category: Word,
    pub impact: f64,
    pub confidence: f64,
    #[serde(deserialize_with = "vocabulary")]
    pub effort: Word,
    #[serde(deserialize_with = "vocabulary")]
    pub risk: Word,
    pub score: f64,
    pub hook: Option<String>,
    pub params: BTreeMap<String, String>,
    pub raised_by: Vec<String>,
}

impl Report {
    pub fn new(result: CheckResult, meta: Meta) -> Self {
        Report {
            findings: result.findings.into_iter().map(ReportFinding::from).collect(),
            plugins: result.plugins,
            snapshot_meta: meta,
        }
    }

    /// A copy with every string escaped by [`terminal_safe`]: what the text
    /// renderers draw, so no field of plugin, snapshot or hook origin can reach
    /// a terminal raw, whichever renderer prints it.
    pub fn terminal_safe(&self) -> Report {
        let safe = |s: &String| terminal_safe(s).into_owned();
        let meta = &self.snapshot_meta;
        Report {
            findings: self
                .findings
                .iter()
                .map(|f| ReportFinding {
                    rule: safe(&f.rule),
                    plugin: safe(&f.plugin),
                    title: safe(&f.title),
                    target: safe(&f.target),
                    evidence: f
                        .evidence
                        .iter()
                        .map(|e| Evidence { metric: safe(&e.metric), unit: safe(&e.unit), ..e.clone() })
                        .collect(),
                    actions: f
                        .actions
                        .iter()
                        .map(|a| ReportAction {
                            id: safe(&a.id),
                            title: safe(&a.title),
                            detail: safe(&a.detail),
                            hook: a.hook.as_ref().map(safe),
                            params: a.params.iter().map(|(k, v)| (safe(k), safe(v))).collect(),
                            raised_by: a.raised_by.iter().map(safe).collect(),
                            ..a.clone()
                        })
                        .collect(),
                    ..f.clone()
                })
                .collect(),
            plugins: self
                .plugins
                .iter()
                .map(|p| PluginRun {
                    name: safe(&p.name),
                    version: safe(&p.version),
                    origin: safe(&p.origin),
                    error: p.error.as_ref().map(safe),
                    note: p.note.as_ref().map(safe),
                    ..p.clone()
                })
                .collect(),
            snapshot_meta: Meta {
                hostname: safe(&meta.hostname),
                os: safe(&meta.os),
                kernel: safe(&meta.kernel),
                sources: meta.sources.iter().map(safe).collect(),
                ..meta.clone()
            },
        }
    }
}

impl From<RankedFinding> for ReportFinding {
    fn from(f: RankedFinding) -> Self {
        ReportFinding {
            rule: f.rule,
            plugin: f.plugin,
            title: f.title,
            severity: f.severity.as_str(),
            category: f.category.as_str(),
            target: f.target,
            score: f.score,
            evidence: f.evidence,
            actions: f
                .actions
                .into_iter()
                .map(|ranked| {
                    let a = ranked.action;
                    ReportAction {
                        id: a.id,
                        title: a.title,
                        detail: a.detail,
                        category: a.category.as_str(),
                        impact: a.impact,
                        confidence: a.confidence,
                        effort: a.effort.as_str(),
                        risk: a.risk.as_str(),
                        score: ranked.score,
                        hook: a.hook,
                        params: a.params.into_iter().map(|p| (p.key, p.value)).collect(),
                        raised_by: ranked.raised_by,
                    }
                })
                .collect(),
        }
    }
}

/// A stored report's severity, category, effort or risk, mapped back onto the
/// same `&'static str` the renderers use (levels are a subset of severities).
fn vocabulary<'de, D: Deserializer<'de>>(deserializer: D) -> Result<&'static str, D::Error> {
    use perfsage_model::{Category, Severity};
    let word = String::deserialize(deserializer)?;
    Severity::ALL
        .map(Severity::as_str)
        .into_iter()
        .chain([Category::Hardware, Category::Software, Category::Network].map(Category::as_str))
        .find(|known| *known == word)
        .ok_or_else(|| serde::de::Error::custom(format!("unknown severity, category or level {word:?}")))
}

/// `12.5` for a number with a fraction, `12` for a whole one.
fn number(value: f64) -> String {
    if value.fract() == 0.0 && value.abs() < 1e15 { format!("{value:.0}") } else { format!("{value:.2}") }
}

/// One line of evidence: `load1 per core 3.20 (threshold 1)`.
pub fn evidence_line(e: &Evidence) -> String {
    let unit = if e.unit.is_empty() { String::new() } else { format!(" {}", e.unit) };
    format!("{} {}{unit} (threshold {}{unit})", e.metric, number(e.observed), number(e.threshold))
}
