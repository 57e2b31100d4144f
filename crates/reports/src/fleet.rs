//! The fleet report (`perfsage fleet`): which bottleneck classes affect which
//! instances, and each instance's own view.
//!
//! A class is one finding rule (`cpu/utilization`, `disk/space-used`, ...).
//! Classes are ranked by their worst severity, then by how many instances they
//! affect, then by rule id, so the most serious and widest problem comes first
//! and the order is total. Instances are listed worst first (worst severity,
//! then number of findings, then name); the JSON lists every instance, the
//! table and Markdown only those with findings or problems, and count the rest.
//! Pure, like the other renderers.

use std::collections::BTreeMap;
use std::fmt::Write;

use serde::Serialize;
use tabled::builder::Builder;
use tabled::settings::object::Columns;
use tabled::settings::{Modify, Style, Width};

use crate::markdown::escape;
use crate::render::Format;
use crate::report::Word;
use crate::table::paint;
use crate::terminal::terminal_safe;
use perfsage_model::Severity;
use perfsage_ranking::{CheckResult, PluginStatus};

/// The whole fleet's result.
#[derive(Debug, Clone, Serialize)]
pub struct FleetReport {
    pub prometheus: String,
    pub selector: String,
    pub window_ms: u64,
    pub evaluated_at_ms: i64,
    pub queries: usize,
    /// Queries that failed, with the server's message.
    pub failed_queries: Vec<String>,
    pub warnings: Vec<String>,
    pub classes: Vec<FindingClass>,
    pub instances: Vec<InstanceView>,
}

/// One finding rule across the fleet.
#[derive(Debug, Clone, Serialize)]
pub struct FindingClass {
    pub rule: String,
    pub plugin: String,
    pub category: Word,
    pub worst_severity: Word,
    pub instance_count: usize,
    pub instances: Vec<ClassHit>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ClassHit {
    pub instance: String,
    pub severity: Word,
    pub target: String,
    pub title: String,
}

/// One instance: how it went and what was found.
#[derive(Debug, Clone, Serialize)]
pub struct InstanceView {
    pub instance: String,
    pub hostname: String,
    /// `ok`, or `degraded` (missing data or a failed plugin).
    pub status: &'static str,
    pub worst_severity: Option<Word>,
    pub findings: Vec<InstanceFinding>,
    /// Missing sections and failed plugins.
    pub problems: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct InstanceFinding {
    pub rule: String,
    pub severity: Word,
    pub target: String,
    pub title: String,
    pub best_action: Option<String>,
}

/// One instance's outcome, as the command hands it over.
pub struct InstanceOutcome {
    pub instance: String,
    pub hostname: String,
    pub problems: Vec<String>,
    pub result: CheckResult,
}

/// Everything but the per-instance outcomes.
pub struct FleetHeader {
    pub prometheus: String,
    pub selector: String,
    pub window_ms: u64,
    pub evaluated_at_ms: i64,
    pub queries: usize,
    pub failed_queries: Vec<String>,
    pub warnings: Vec<String>,
}

impl FleetReport {
    pub fn new(header: FleetHeader, outcomes: Vec<InstanceOutcome>) -> FleetReport {
        let mut classes: BTreeMap<String, ClassBuilder> = BTreeMap::new();
        let mut instances = Vec::new();
        for outcome in outcomes {
            let mut problems = outcome.problems;
            for plugin in &outcome.result.plugins {
                if plugin.status == PluginStatus::Failed {
                    problems.push(format!("plugin {} failed: {}", plugin.name, plugin.error.as_deref().unwrap_or("")));
                }
            }
            let worst = outcome.result.findings.iter().map(|f| f.severity).max_by_key(|s| s.rank());
            let findings = outcome
                .result
                .findings
                .iter()
                .map(|f| InstanceFinding {
                    rule: f.rule.clone(),
                    severity: f.severity.as_str(),
                    target: f.target.clone(),
                    title: f.title.clone(),
                    best_action: f.actions.first().map(|a| a.action.title.clone()),
                })
                .collect();
            for f in &outcome.result.findings {
                let entry = classes
                    .entry(f.rule.clone())
                    .or_insert_with(|| (f.plugin.clone(), f.category.as_str(), Vec::new()));
                // One hit per instance and class: its most severe finding of that rule.
                let hit = ClassHit {
                    instance: outcome.instance.clone(),
                    severity: f.severity.as_str(),
                    target: f.target.clone(),
                    title: f.title.clone(),
                };
                match entry.2.iter_mut().find(|(_, h)| h.instance == outcome.instance) {
                    Some(existing) if existing.0.rank() < f.severity.rank() => *existing = (f.severity, hit),
                    Some(_) => {}
                    None => entry.2.push((f.severity, hit)),
                }
            }
            instances.push((
                worst,
                InstanceView {
                    instance: outcome.instance,
                    hostname: outcome.hostname,
                    status: if problems.is_empty() { "ok" } else { "degraded" },
                    worst_severity: worst.map(Severity::as_str),
                    findings,
                    problems,
                },
            ));
        }
        instances.sort_by(|(a_worst, a), (b_worst, b)| {
            let rank = |w: &Option<Severity>| w.map_or(0, |s| s.rank() + 1);
            rank(b_worst)
                .cmp(&rank(a_worst))
                .then(b.findings.len().cmp(&a.findings.len()))
                .then(b.problems.len().cmp(&a.problems.len()))
                .then(a.instance.cmp(&b.instance))
        });
        let mut classes: Vec<(Severity, FindingClass)> = classes
            .into_iter()
            .map(|(rule, (plugin, category, mut hits))| {
                hits.sort_by(|(a, ha), (b, hb)| b.rank().cmp(&a.rank()).then(ha.instance.cmp(&hb.instance)));
                let worst = hits.iter().map(|(s, _)| *s).max_by_key(|s| s.rank()).unwrap_or(Severity::Info);
                let class = FindingClass {
                    rule,
                    plugin,
                    category,
                    worst_severity: worst.as_str(),
                    instance_count: hits.len(),
                    instances: hits.into_iter().map(|(_, h)| h).collect(),
                };
                (worst, class)
            })
            .collect();
        classes.sort_by(|(a_worst, a), (b_worst, b)| {
            b_worst.rank().cmp(&a_worst.rank()).then(b.instance_count.cmp(&a.instance_count)).then(a.rule.cmp(&b.rule))
        });
        FleetReport {
            prometheus: header.prometheus,
            selector: header.selector,
            window_ms: header.window_ms,
            evaluated_at_ms: header.evaluated_at_ms,
            queries: header.queries,
            failed_queries: header.failed_queries,
            warnings: header.warnings,
            classes: classes.into_iter().map(|(_, c)| c).collect(),
            instances: instances.into_iter().map(|(_, i)| i).collect(),
        }
    }

    pub fn degraded(&self) -> bool {
        !self.failed_queries.is_empty() || self.instances.iter().any(|i| i.status != "ok")
    }

    /// A copy with every string escaped by [`terminal_safe`]: instance and
    /// host names come from Prometheus labels, titles and targets from
    /// plugins, messages from the server; the table and Markdown draw this
    /// copy, so none reaches a terminal raw (the JSON is escaped by serde).
    pub fn terminal_safe(&self) -> FleetReport {
        let safe = |s: &String| terminal_safe(s).into_owned();
        let all = |list: &[String]| list.iter().map(safe).collect::<Vec<_>>();
        FleetReport {
            prometheus: safe(&self.prometheus),
            selector: safe(&self.selector),
            failed_queries: all(&self.failed_queries),
            warnings: all(&self.warnings),
            classes: self
                .classes
                .iter()
                .map(|c| FindingClass {
                    rule: safe(&c.rule),
                    plugin: safe(&c.plugin),
                    instances: c
                        .instances
                        .iter()
                        .map(|h| ClassHit {
                            instance: safe(&h.instance),
                            target: safe(&h.target),
                            title: safe(&h.title),
                            ..h.clone()
                        })
                        .collect(),
                    ..c.clone()
                })
                .collect(),
            instances: self
                .instances
                .iter()
                .map(|i| InstanceView {
                    instance: safe(&i.instance),
                    hostname: safe(&i.hostname),
                    findings: i
                        .findings
                        .iter()
                        .map(|f| InstanceFinding {
                            rule: safe(&f.rule),
                            target: safe(&f.target),
                            title: safe(&f.title),
                            best_action: f.best_action.as_ref().map(safe),
                            ..f.clone()
                        })
                        .collect(),
                    problems: all(&i.problems),
                    ..i.clone()
                })
                .collect(),
            ..self.clone()
        }
    }

    pub fn render(&self, format: Format, color: bool) -> String {
        match format {
            Format::Table => self.terminal_safe().table(color),
            Format::Json => {
                let mut text = serde_json::to_string_pretty(self).expect("a fleet report always serializes");
                text.push('\n');
                text
            }
            Format::Markdown => self.terminal_safe().markdown(),
        }
    }

    fn noteworthy(&self) -> impl Iterator<Item = &InstanceView> {
        self.instances.iter().filter(|i| !i.findings.is_empty() || !i.problems.is_empty())
    }

    fn heading(&self) -> String {
        let selector = if self.selector.is_empty() { String::new() } else { format!(" {{{}}}", self.selector) };
        let at = std::time::UNIX_EPOCH + std::time::Duration::from_millis(self.evaluated_at_ms.max(0) as u64);
        format!(
            "{} instances from {}{selector}, window {}, at {}, {} queries",
            self.instances.len(),
            self.prometheus,
            humantime::format_duration(std::time::Duration::from_millis(self.window_ms)),
            humantime::format_rfc3339_seconds(at),
            self.queries
        )
    }

    fn table(&self, color: bool) -> String {
        let mut out = format!("perfsage fleet: {}\n", self.heading());
        if self.classes.is_empty() {
            out.push_str("\nNo findings on any instance.\n");
        } else {
            let mut builder = Builder::default();
            builder.push_record(["#", "Worst", "Finding", "Instances", "Affected"]);
            for (i, class) in self.classes.iter().enumerate() {
                builder.push_record([
                    (i + 1).to_string(),
                    paint(class.worst_severity, color),
                    class.rule.clone(),
                    class.instance_count.to_string(),
                    affected(&class.instances, 8),
                ]);
            }
            let mut table = builder.build();
            table.with(Style::rounded()).with(Modify::new(Columns::new(4..5)).with(Width::wrap(60).keep_words(true)));
            let _ = writeln!(out, "\nBottlenecks across the fleet:\n{table}");
        }
        let noteworthy: Vec<&InstanceView> = self.noteworthy().collect();
        if !noteworthy.is_empty() {
            let mut builder = Builder::default();
            builder.push_record(["Instance", "Status", "Worst", "Findings"]);
            for view in &noteworthy {
                let mut lines: Vec<String> =
                    view.findings.iter().map(|f| format!("{} {}: {}", f.severity, f.rule, f.title)).collect();
                lines.extend(view.problems.iter().map(|p| format!("problem: {p}")));
                builder.push_record([
                    view.instance.clone(),
                    view.status.to_string(),
                    view.worst_severity.map_or(String::new(), |s| paint(s, color)),
                    lines.join("\n"),
                ]);
            }
            let mut table = builder.build();
            table.with(Style::rounded()).with(Modify::new(Columns::new(3..4)).with(Width::wrap(70).keep_words(true)));
            let _ = writeln!(out, "\nInstances:\n{table}");
        }
        let clean = self.instances.len() - noteworthy.len();
        if clean > 0 {
            let _ = writeln!(out, "\n{clean} more instances: no findings, nothing missing.");
        }
        for failure in &self.failed_queries {
            let _ = writeln!(out, "\nfailed: {failure}");
        }
        for warning in &self.warnings {
            let _ = writeln!(out, "\nPrometheus warned: {warning}");
        }
        out
    }

    fn markdown(&self) -> String {
        let mut out = format!("# perfsage fleet report\n\n{}.\n\n", escape(&self.heading()));
        if self.classes.is_empty() {
            out.push_str("No findings on any instance.\n");
        } else {
            out.push_str("## Bottlenecks\n\n| # | Worst | Finding | Instances | Affected |\n|---|---|---|---|---|\n");
            for (i, class) in self.classes.iter().enumerate() {
                let _ = writeln!(
                    out,
                    "| {} | {} | {} | {} | {} |",
                    i + 1,
                    class.worst_severity,
                    escape(&class.rule),
                    class.instance_count,
                    escape(&affected(&class.instances, 20))
                );
            }
        }
        let noteworthy: Vec<&InstanceView> = self.noteworthy().collect();
        if !noteworthy.is_empty() {
            out.push_str("\n## Instances\n\n| Instance | Status | Worst | Findings |\n|---|---|---|---|\n");
            for view in noteworthy {
                let mut lines: Vec<String> =
                    view.findings.iter().map(|f| format!("{} {}: {}", f.severity, f.rule, f.target)).collect();
                lines.extend(view.problems.iter().map(|p| format!("problem: {p}")));
                let _ = writeln!(
                    out,
                    "| {} | {} | {} | {} |",
                    escape(&view.instance),
                    view.status,
                    view.worst_severity.unwrap_or(""),
                    lines.iter().map(|l| escape(l)).collect::<Vec<_>>().join("<br>")
                );
            }
        }
        if !self.failed_queries.is_empty() {
            out.push_str("\n## Failed queries\n\n");
            for failure in &self.failed_queries {
                let _ = writeln!(out, "- {}", escape(failure));
            }
        }
        out
    }
}

/// A class being gathered: plugin, category, and one hit per instance with its severity.
type ClassBuilder = (String, Word, Vec<(Severity, ClassHit)>);

/// The first `shown` instance names, and how many more.
fn affected(hits: &[ClassHit], shown: usize) -> String {
    let names: Vec<&str> = hits.iter().take(shown).map(|h| h.instance.as_str()).collect();
    let more = hits.len().saturating_sub(shown);
    if more > 0 { format!("{} … and {more} more", names.join(", ")) } else { names.join(", ") }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_titles_and_messages_reach_the_table_and_markdown_escaped() {
        let hostile = "web1\x1b[2J\u{202e}gnp.exe";
        let finding = InstanceFinding {
            rule: "cpu/saturated".into(),
            severity: "high",
            target: hostile.into(),
            title: format!("title {hostile}"),
            best_action: Some(format!("act {hostile}")),
        };
        let report = FleetReport {
            prometheus: "http://127.0.0.1:9090".into(),
            selector: String::new(),
            window_ms: 60_000,
            evaluated_at_ms: 0,
            queries: 1,
            failed_queries: vec![format!("query failed: {hostile}")],
            warnings: vec![hostile.into()],
            classes: vec![FindingClass {
                rule: "cpu/saturated".into(),
                plugin: "cpu".into(),
                category: "hardware",
                worst_severity: "high",
                instance_count: 1,
                instances: vec![ClassHit {
                    instance: hostile.into(),
                    severity: "high",
                    target: hostile.into(),
                    title: hostile.into(),
                }],
            }],
            instances: vec![InstanceView {
                instance: hostile.into(),
                hostname: hostile.into(),
                status: "degraded",
                worst_severity: Some("high"),
                findings: vec![finding],
                problems: vec![format!("plugin x failed: {hostile}")],
            }],
        };
        for format in [Format::Table, Format::Markdown] {
            let text = report.render(format, false);
            assert!(!text.contains('\x1b') && !text.contains('\u{202e}'), "{format:?}: {text}");
            assert!(text.contains("web1"), "{format:?} still names the instance");
        }
        let json = report.render(Format::Json, false);
        let back: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(back["instances"][0]["instance"], hostile, "JSON keeps the value, escaped by serde");
    }
}
