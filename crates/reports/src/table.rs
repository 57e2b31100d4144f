//! `--format table`: what an operator reads at a terminal.
//!
//! A ranked table of findings with each one's best action, then the details
//! (evidence, every action with its hook), then the plugins that did not run
//! cleanly. Colour (severity only) when the caller says the output is a
//! terminal.

use std::fmt::Write;

use tabled::builder::Builder;
use tabled::settings::object::Columns;
use tabled::settings::{Modify, Style, Width};

use crate::report::{Report, evidence_line};
use perfsage_ranking::PluginStatus;

pub fn render(report: &Report, color: bool) -> String {
    let meta = &report.snapshot_meta;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "perfsage: {} ({} {}), window {} ms, sources: {}",
        meta.hostname,
        meta.os,
        meta.kernel,
        meta.window_ms,
        meta.sources.join(", ")
    );

    if report.findings.is_empty() {
        out.push_str("\nNo findings: every check that ran is within its thresholds.\n");
    } else {
        let mut builder = Builder::default();
        builder.push_record(["#", "Severity", "Target", "Finding", "Best action", "Score"]);
        for (i, f) in report.findings.iter().enumerate() {
            let best = f.actions.first().map_or("(none)", |a| a.title.as_str());
            builder.push_record([
                (i + 1).to_string(),
                paint(f.severity, color),
                f.target.clone(),
                f.title.clone(),
                best.to_string(),
                format!("{:.2}", f.score),
            ]);
        }
        let mut table = builder.build();
        table
            .with(Style::rounded())
            .with(Modify::new(Columns::new(2..3)).with(Width::wrap(24).keep_words(true)))
            .with(Modify::new(Columns::new(3..5)).with(Width::wrap(44).keep_words(true)));
        let _ = writeln!(out, "\n{table}");

        for (i, f) in report.findings.iter().enumerate() {
            let _ =
                writeln!(out, "\n{}. [{}] {}  ({}, {})", i + 1, paint(f.severity, color), f.title, f.rule, f.category);
            for e in &f.evidence {
                let _ = writeln!(out, "   evidence: {}", evidence_line(e));
            }
            for a in &f.actions {
                let _ = writeln!(
                    out,
                    "   -> {} [{}] score {:.2}, effort {}, risk {}",
                    a.title, a.id, a.score, a.effort, a.risk
                );
                if !a.detail.is_empty() {
                    let _ = writeln!(out, "      {}", a.detail);
                }
                if let Some(hook) = &a.hook {
                    let params: Vec<String> = a.params.iter().map(|(k, v)| format!("{k}={v}")).collect();
                    let _ = writeln!(out, "      hook: {hook} {}", params.join(" "));
                }
            }
        }
    }

    let ran = report.plugins.iter().filter(|p| p.status == PluginStatus::Ok).count();
    let _ = writeln!(out, "\nPlugins: {ran} of {} ran.", report.plugins.len());
    for p in report.plugins.iter().filter(|p| p.status != PluginStatus::Ok) {
        let why = p.error.as_deref().or(p.note.as_deref()).unwrap_or("");
        let status = match p.status {
            PluginStatus::Failed if color => "\x1b[31mfailed\x1b[0m",
            PluginStatus::Failed => "failed",
            PluginStatus::Skipped => "skipped",
            PluginStatus::Disabled => "disabled",
            PluginStatus::Ok => "ok",
        };
        let _ = writeln!(out, "  {} ({}): {status}: {why}", p.name, p.origin);
    }
    out
}

pub(super) fn paint(severity: &str, color: bool) -> String {
    if !color {
        return severity.to_string();
    }
    let code = match severity {
        "critical" => "1;31",
        "high" => "31",
        "medium" => "33",
        "low" => "36",
        _ => "2",
    };
    format!("\x1b[{code}m{severity}\x1b[0m")
}
