//! `--format markdown`: a report to paste into a ticket or a wiki page.

use std::fmt::Write;

use crate::report::{Report, evidence_line};
use perfsage_ranking::PluginStatus;

pub fn render(report: &Report) -> String {
    let meta = &report.snapshot_meta;
    let mut out = String::new();
    let _ = writeln!(out, "# perfsage report: {}\n", escape(&meta.hostname));
    let _ = writeln!(
        out,
        "Snapshot taken at {} (unix ms) over {} ms; sources: {}.\n",
        meta.taken_at_ms,
        meta.window_ms,
        meta.sources.join(", ")
    );
    if report.findings.is_empty() {
        out.push_str("No findings.\n");
    } else {
        out.push_str("| # | Severity | Target | Finding | Best action | Score |\n|---|---|---|---|---|---|\n");
        for (i, f) in report.findings.iter().enumerate() {
            let best = f.actions.first().map_or("(none)".to_string(), |a| escape(&a.title));
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} | {:.2} |",
                i + 1,
                f.severity,
                escape(&f.target),
                escape(&f.title),
                best,
                f.score
            );
        }
        for (i, f) in report.findings.iter().enumerate() {
            let _ = writeln!(out, "\n## {}. {} ({}, {})\n", i + 1, escape(&f.title), f.severity, f.rule);
            for e in &f.evidence {
                let _ = writeln!(out, "- Evidence: {}", escape(&evidence_line(e)));
            }
            for a in &f.actions {
                let hook = a.hook.as_deref().map_or(String::new(), |h| format!(" Hook: `{h}`."));
                let _ = writeln!(
                    out,
                    "- **{}** (`{}`, score {:.2}, effort {}, risk {}): {}{hook}",
                    escape(&a.title),
                    a.id,
                    a.score,
                    a.effort,
                    a.risk,
                    escape(&a.detail)
                );
            }
        }
    }
    let _ = writeln!(out, "\n## Plugins\n\n| Plugin | Version | Status | Findings | Note |\n|---|---|---|---|---|");
    for p in &report.plugins {
        let note = p.error.as_deref().or(p.note.as_deref()).unwrap_or("");
        let status = match p.status {
            PluginStatus::Failed => "**failed**",
            PluginStatus::Ok => "ok",
            PluginStatus::Skipped => "skipped",
            PluginStatus::Disabled => "disabled",
        };
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} |",
            escape(&p.name),
            escape(&p.version),
            status,
            p.findings,
            escape(note)
        );
    }
    out
}

/// Plugin text is untrusted: keep it from breaking the table or adding markup.
pub(super) fn escape(text: &str) -> String {
    text.replace('\\', "\\\\").replace('|', "\\|").replace(['\n', '\r'], " ").replace('<', "&lt;")
}
