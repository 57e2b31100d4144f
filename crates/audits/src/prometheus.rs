//! The audit in the Prometheus text exposition format, for node_exporter's
//! textfile collector (`--collector.textfile.directory`): gauges only, every
//! series labelled with the audited `host`, so files of several targets can
//! sit side by side. Pure; `perfsage_private::write_atomic` puts the file in place so
//! the collector never reads half of it.
//!
//! Hand-written rather than through `prometheus-client`: that crate emits
//! OpenMetrics (with `# EOF` and unit metadata), while the textfile
//! collector reads the classic text format, which is six lines of logic.

use std::collections::BTreeMap;
use std::fmt::Write;

use crate::view::AuditView;
use perfsage_model::Severity;

/// Render the metrics of one audit.
pub fn render(view: &AuditView) -> String {
    let host = view.summary.target.as_str();
    let mut out = String::new();
    let mut family = |name: &str, help: &str, samples: &[(Vec<(&str, &str)>, f64)]| {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge");
        for (labels, value) in samples {
            let labels: Vec<String> = std::iter::once(("host", host))
                .chain(labels.iter().copied())
                .map(|(k, v)| format!("{k}=\"{}\"", escape(v)))
                .collect();
            let _ = writeln!(out, "{name}{{{}}} {value}", labels.join(","));
        }
    };

    // One series per (rule, severity, target): a count, almost always 1.
    let mut findings: BTreeMap<(&str, &str, &str), (u32, f64)> = BTreeMap::new();
    for f in &view.report.findings {
        let entry = findings.entry((f.rule.as_str(), f.severity, f.target.as_str())).or_default();
        entry.0 += 1;
        entry.1 = entry.1.max(f.score);
    }
    let labelled = |value: &dyn Fn(&(u32, f64)) -> f64| -> Vec<(Vec<(&str, &str)>, f64)> {
        findings
            .iter()
            .map(|((rule, severity, target), v)| {
                (vec![("rule", *rule), ("severity", *severity), ("target", *target)], value(v))
            })
            .collect()
    };
    family(
        "perfsage_audit_findings",
        "Findings of the last audit by rule, severity and target.",
        &labelled(&|v| v.0 as f64),
    );
    family("perfsage_audit_finding_score", "Ranking score of each finding of the last audit.", &labelled(&|v| v.1));
    let by_severity: Vec<_> = Severity::ALL
        .iter()
        .map(|s| (vec![("severity", s.as_str())], view.summary.by_severity[s.rank() as usize] as f64))
        .collect();
    family("perfsage_audit_findings_by_severity", "Findings of the last audit per severity.", &by_severity);
    let failures = view.report.plugins.iter().filter(|p| p.status == perfsage_ranking::PluginStatus::Failed).count();
    family(
        "perfsage_audit_plugin_failures",
        "Plugins that failed to load or check in the last audit.",
        &[(vec![], failures as f64)],
    );
    let diff = &view.diff;
    family(
        "perfsage_audit_new_findings",
        "Findings of the last audit absent from the one before.",
        &[(vec![], diff.new.len() as f64)],
    );
    family(
        "perfsage_audit_resolved_findings",
        "Findings of the audit before that the last audit no longer has.",
        &[(vec![], diff.resolved.len() as f64)],
    );
    let duration = view.summary.duration_ms.unwrap_or(0) as f64 / 1000.0;
    family("perfsage_audit_duration_seconds", "Wall-clock time the last audit took.", &[(vec![], duration)]);
    let started = view.summary.started_at_ms as f64 / 1000.0;
    family(
        "perfsage_audit_last_run_timestamp_seconds",
        "When the last audit started, in seconds since the epoch.",
        &[(vec![], started)],
    );
    out
}

/// Escape a label value: backslash, double quote and newline.
fn escape(value: &str) -> String {
    value.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}
