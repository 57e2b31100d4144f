//! The audit as one self-contained HTML file: inline CSS, charts drawn by
//! `plotters` as inline SVG, no script and no URL of any kind, so it opens
//! anywhere (a mail attachment, an air-gapped host, a CI artifact) and loads
//! nothing. Pure: the page is a function of the stored audit and its
//! history.
//!
//! plotters is built with its SVG backend only: text becomes `<text>`
//! elements laid out with its built-in size estimate, so no font files or
//! font crates are involved; the browser draws the text with its own fonts.

use std::fmt::Write;

use plotters::coord::Shift;
use plotters::prelude::*;

use crate::diff::Diff;
use crate::history::AuditSummary;
use crate::view::AuditView;
use perfsage_model::{Severity, Snapshot};
use perfsage_reports::{Report, ReportFinding};

#[derive(Debug, thiserror::Error)]
#[error("cannot draw the {chart} chart: {message}")]
pub struct ChartError {
    chart: &'static str,
    message: String,
}

const WIDTH: u32 = 860;
/// Findings and endpoints drawn at most (the tables list every finding).
const CHART_ROWS: usize = 15;

const STYLE: &str = "
body { font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 900px; color: #1d2430; }
h1 { font-size: 1.5rem; } h2 { font-size: 1.15rem; margin-top: 2rem; border-bottom: 1px solid #d8dde6; }
table { border-collapse: collapse; width: 100%; font-size: 0.9rem; }
th, td { text-align: left; padding: 0.3rem 0.5rem; border-bottom: 1px solid #eceff4; vertical-align: top; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
.sev { font-weight: 600; padding: 0.1rem 0.4rem; border-radius: 0.3rem; color: #fff; }
.sev-info { background: #6b7a90; } .sev-low { background: #2f7d32; } .sev-medium { background: #b8860b; }
.sev-high { background: #d2561e; } .sev-critical { background: #b01c2e; }
.meta { color: #56627a; } .chart svg { max-width: 100%; height: auto; }
";

/// Render the page.
pub fn render(view: &AuditView) -> Result<String, ChartError> {
    let AuditView { summary, report, snapshot, diff, trend } = view;
    let mut page = String::new();
    let title = format!("perfsage audit {} of {}", summary.id, summary.target);
    let _ = write!(
        page,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>{}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n<h1>{}</h1>\n",
        escape(&title),
        escape(&title)
    );
    let counts: Vec<String> = Severity::ALL
        .iter()
        .rev()
        .map(|s| format!("{} {}", summary.by_severity[s.rank() as usize], s.as_str()))
        .collect();
    let _ = writeln!(
        page,
        "<p class=\"meta\">{} · status {} · {} · host {} ({}, kernel {})</p>",
        format_time(summary.started_at_ms),
        summary.status,
        counts.join(", "),
        escape(&report.snapshot_meta.hostname),
        escape(&report.snapshot_meta.os),
        escape(&report.snapshot_meta.kernel)
    );

    page.push_str("<h2>Findings, ranked</h2>\n");
    if report.findings.is_empty() {
        page.push_str("<p>No findings.</p>\n");
    } else {
        chart(&mut page, &findings_chart(&report.findings)?);
        findings_table(&mut page, &report.findings);
    }
    diff_section(&mut page, diff);
    if let Some(svg) = latency_chart(snapshot)? {
        page.push_str("<h2>Endpoint latency percentiles</h2>\n");
        chart(&mut page, &svg);
    }
    if let Some(svg) = resources_chart(snapshot)? {
        page.push_str("<h2>Resource use</h2>\n");
        chart(&mut page, &svg);
    }
    page.push_str("<h2>Findings over past audits</h2>\n");
    chart(&mut page, &trend_chart(trend)?);
    plugins_table(&mut page, report);
    page.push_str("</body>\n</html>\n");
    Ok(page)
}

/// Inline an SVG. Its namespace URL goes: HTML needs none, and the page then
/// holds no URL at all (which the tests check).
fn chart(page: &mut String, svg: &str) {
    let svg = svg.replacen(" xmlns=\"http://www.w3.org/2000/svg\"", "", 1);
    let _ = writeln!(page, "<div class=\"chart\">{svg}</div>");
}

fn findings_table(page: &mut String, findings: &[ReportFinding]) {
    page.push_str("<table>\n<tr><th>#</th><th>Severity</th><th>Finding</th><th>Target</th><th>Score</th><th>Best action</th></tr>\n");
    for (i, f) in findings.iter().enumerate() {
        let action = f.actions.first().map_or(String::new(), |a| escape(&a.title));
        let _ = writeln!(
            page,
            "<tr><td class=\"num\">{}</td><td><span class=\"sev sev-{}\">{}</span></td><td>{}<br><small>{}</small></td><td>{}</td><td class=\"num\">{:.3}</td><td>{action}</td></tr>",
            i + 1,
            f.severity,
            f.severity,
            escape(&f.title),
            escape(&f.rule),
            escape(&f.target),
            f.score
        );
    }
    page.push_str("</table>\n");
}

fn diff_section(page: &mut String, diff: &Diff) {
    page.push_str("<h2>Since the previous audit</h2>\n");
    let Some(previous) = diff.previous_audit else {
        page.push_str("<p>First audit of this target: every finding is new.</p>\n");
        return;
    };
    let _ = writeln!(
        page,
        "<p>Compared with audit {previous}: {} new, {} resolved, {} persisting.</p>\n<table>\n<tr><th>Change</th><th>Finding</th><th>Target</th><th>Score</th></tr>",
        diff.new.len(),
        diff.resolved.len(),
        diff.persisting.len()
    );
    for (change, rows) in [("new", &diff.new), ("resolved", &diff.resolved)] {
        for f in rows {
            let _ = writeln!(
                page,
                "<tr><td>{change}</td><td>{}</td><td>{}</td><td class=\"num\">{:.3}</td></tr>",
                escape(&f.title),
                escape(&f.target),
                f.score
            );
        }
    }
    for p in &diff.persisting {
        let _ = writeln!(
            page,
            "<tr><td>persisting</td><td>{}</td><td>{}</td><td class=\"num\">{:.3} → {:.3} ({:+.3})</td></tr>",
            escape(&p.title),
            escape(&p.target),
            p.score_before,
            p.score,
            p.score_change
        );
    }
    page.push_str("</table>\n");
}

fn plugins_table(page: &mut String, report: &Report) {
    page.push_str("<h2>Plugins</h2>\n<table>\n<tr><th>Plugin</th><th>Version</th><th>Status</th><th>Findings</th><th>Note</th></tr>\n");
    for p in &report.plugins {
        let status = serde_json::to_value(p.status).ok().and_then(|v| v.as_str().map(String::from)).unwrap_or_default();
        let note = p.error.as_deref().or(p.note.as_deref()).unwrap_or("");
        let _ = writeln!(
            page,
            "<tr><td>{}</td><td>{}</td><td>{status}</td><td class=\"num\">{}</td><td>{}</td></tr>",
            escape(&p.name),
            escape(&p.version),
            p.findings,
            escape(note)
        );
    }
    page.push_str("</table>\n");
}

fn severity_color(severity: &str) -> RGBColor {
    match severity {
        "critical" => RGBColor(0xb0, 0x1c, 0x2e),
        "high" => RGBColor(0xd2, 0x56, 0x1e),
        "medium" => RGBColor(0xb8, 0x86, 0x0b),
        "low" => RGBColor(0x2f, 0x7d, 0x32),
        _ => RGBColor(0x6b, 0x7a, 0x90),
    }
}

/// Draw into an SVG string; plotters' errors become a [`ChartError`] naming the chart.
fn svg(
    chart: &'static str,
    height: u32,
    draw: impl FnOnce(&DrawingArea<SVGBackend, Shift>) -> Result<(), DrawingAreaErrorKind<std::io::Error>>,
) -> Result<String, ChartError> {
    let mut text = String::new();
    {
        let root = SVGBackend::with_string(&mut text, (WIDTH, height)).into_drawing_area();
        let drawn = root.fill(&WHITE).and_then(|_| draw(&root)).and_then(|_| root.present());
        drawn.map_err(|e| ChartError { chart, message: e.to_string() })?;
    }
    Ok(text)
}

// plotters' integer ranges are inclusive: `(0..n - 1).into_segmented()` is n segments.

/// Horizontal bars, first item on top; `bars` is not empty.
fn bar_chart(
    chart: &'static str,
    caption: &str,
    axis: &str,
    max: f64,
    bars: &[(String, f64, RGBColor)],
) -> Result<String, ChartError> {
    let rows = bars.len();
    let height = 70 + 26 * rows as u32;
    svg(chart, height, |root| {
        let mut plot = ChartBuilder::on(root)
            .caption(caption, ("sans-serif", 18))
            .margin(12)
            .x_label_area_size(36)
            .y_label_area_size(330)
            .build_cartesian_2d(0.0..max, (0..rows - 1).into_segmented())?;
        let label = |v: &SegmentValue<usize>| match v {
            SegmentValue::CenterOf(i) if *i < rows => bars[rows - 1 - i].0.clone(),
            _ => String::new(),
        };
        plot.configure_mesh()
            .disable_y_mesh()
            .y_labels(rows)
            .y_label_formatter(&label)
            .x_desc(axis)
            .label_style(("sans-serif", 13))
            .draw()?;
        plot.draw_series(bars.iter().enumerate().map(|(i, (_, value, color))| {
            let row = rows - 1 - i;
            let mut bar = Rectangle::new(
                [(0.0, SegmentValue::Exact(row)), (*value, SegmentValue::Exact(row + 1))],
                color.filled(),
            );
            bar.set_margin(3, 3, 0, 0);
            bar
        }))?;
        Ok(())
    })
}

fn findings_chart(findings: &[ReportFinding]) -> Result<String, ChartError> {
    let bars: Vec<_> = findings
        .iter()
        .take(CHART_ROWS)
        .map(|f| (shorten(&format!("{} · {}", f.rule, f.target)), f.score, severity_color(f.severity)))
        .collect();
    let max = bars.iter().map(|b| b.1).fold(0.0, f64::max).max(0.001) * 1.1;
    bar_chart("findings", "Score of each finding (severity × impact × confidence ÷ cost)", "score", max, &bars)
}

/// Per-endpoint latency percentiles, when the snapshot has endpoints.
fn latency_chart(snapshot: &Snapshot) -> Result<Option<String>, ChartError> {
    let Some(endpoints) = snapshot.endpoints.as_ref().filter(|e| !e.is_empty()) else {
        return Ok(None);
    };
    let mut busiest: Vec<_> = endpoints.iter().collect();
    busiest.sort_by(|a, b| b.requests.cmp(&a.requests).then_with(|| a.route.cmp(&b.route)));
    busiest.truncate(8);
    const PERCENTILES: [&str; 5] = ["p50", "p90", "p95", "p99", "p99.9"];
    let series: Vec<(String, [f64; 5])> = busiest
        .iter()
        .map(|e| {
            let l = &e.latency;
            (shorten(&format!("{} {}", e.service, e.route)), [l.p50_ms, l.p90_ms, l.p95_ms, l.p99_ms, l.p999_ms])
        })
        .collect();
    let max = series.iter().flat_map(|s| s.1).fold(0.0, f64::max).max(1.0) * 1.1;
    svg("latency", 420, |root| {
        let mut plot = ChartBuilder::on(root)
            .caption("Latency by percentile (ms), busiest endpoints", ("sans-serif", 18))
            .margin(12)
            .x_label_area_size(36)
            .y_label_area_size(60)
            .build_cartesian_2d((0..PERCENTILES.len() - 1).into_segmented(), 0.0..max)?;
        let label = |v: &SegmentValue<usize>| match v {
            SegmentValue::CenterOf(i) if *i < PERCENTILES.len() => PERCENTILES[*i].to_string(),
            _ => String::new(),
        };
        plot.configure_mesh()
            .x_labels(PERCENTILES.len())
            .x_label_formatter(&label)
            .y_desc("ms")
            .label_style(("sans-serif", 13))
            .draw()?;
        for (i, (name, values)) in series.iter().enumerate() {
            let color = Palette99::pick(i).to_rgba();
            let points: Vec<_> = values.iter().enumerate().map(|(k, v)| (SegmentValue::CenterOf(k), *v)).collect();
            plot.draw_series(LineSeries::new(points.clone(), color.stroke_width(2)))?
                .label(name.clone())
                .legend(move |(x, y)| PathElement::new([(x, y), (x + 18, y)], color.stroke_width(2)));
            plot.draw_series(points.into_iter().map(|p| Circle::new(p, 3, color.filled())))?;
        }
        plot.configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .label_font(("sans-serif", 12))
            .draw()?;
        Ok(())
    })
    .map(Some)
}

/// CPU, memory, swap and per-mount disk use in percent.
fn resources_chart(snapshot: &Snapshot) -> Result<Option<String>, ChartError> {
    let percent = |used: u64, total: u64| if total == 0 { 0.0 } else { 100.0 * used as f64 / total as f64 };
    let color = |pct: f64| match pct {
        p if p >= 90.0 => severity_color("critical"),
        p if p >= 75.0 => severity_color("medium"),
        _ => RGBColor(0x3b, 0x6e, 0xa8),
    };
    let mut bars = Vec::new();
    if let Some(cpu) = &snapshot.cpu {
        bars.push((format!("CPU ({} cores)", cpu.logical_cores), cpu.utilization_pct));
    }
    if let Some(memory) = &snapshot.memory {
        bars.push(("memory".to_string(), percent(memory.used_bytes, memory.total_bytes)));
        if memory.swap_total_bytes > 0 {
            bars.push(("swap".to_string(), percent(memory.swap_used_bytes, memory.swap_total_bytes)));
        }
    }
    for disk in snapshot.disks.iter().flatten().take(CHART_ROWS) {
        bars.push((shorten(&format!("disk {}", disk.mount)), percent(disk.used_bytes, disk.total_bytes)));
    }
    if bars.is_empty() {
        return Ok(None);
    }
    let bars: Vec<_> = bars.into_iter().map(|(name, pct)| (name, pct, color(pct))).collect();
    bar_chart("resources", "Resource use (%)", "% used", 100.0, &bars).map(Some)
}

/// Findings per severity over the target's audits, oldest on the left.
fn trend_chart(trend: &[AuditSummary]) -> Result<String, ChartError> {
    let audits: Vec<_> = trend.iter().rev().filter(|a| a.status.has_report()).collect();
    let first = audits.first().map_or(0, |a| a.id);
    let last = audits.last().map_or(1, |a| a.id).max(first + 1);
    let max = audits.iter().map(|a| a.findings()).max().unwrap_or(0).max(1) + 1;
    svg("trend", 360, |root| {
        let mut plot = ChartBuilder::on(root)
            .caption("Findings per audit, by severity", ("sans-serif", 18))
            .margin(12)
            .x_label_area_size(36)
            .y_label_area_size(50)
            .build_cartesian_2d(first..last, 0..max)?;
        plot.configure_mesh()
            .x_desc("audit")
            .y_desc("findings")
            .x_labels(audits.len().clamp(2, 12))
            .label_style(("sans-serif", 13))
            .draw()?;
        let total: Vec<_> = audits.iter().map(|a| (a.id, a.findings())).collect();
        let lines = Severity::ALL.iter().rev().map(|s| {
            let points: Vec<_> = audits.iter().map(|a| (a.id, a.by_severity[s.rank() as usize])).collect();
            (s.as_str(), severity_color(s.as_str()).to_rgba(), points)
        });
        for (name, color, points) in std::iter::once(("all", BLACK.to_rgba(), total)).chain(lines) {
            plot.draw_series(LineSeries::new(points.clone(), color.stroke_width(2)))?
                .label(name)
                .legend(move |(x, y)| PathElement::new([(x, y), (x + 18, y)], color.stroke_width(2)));
            plot.draw_series(points.into_iter().map(|p| Circle::new(p, 3, color.filled())))?;
        }
        plot.configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .label_font(("sans-serif", 12))
            .draw()?;
        Ok(())
    })
}

/// Keep chart labels to one line.
fn shorten(text: &str) -> String {
    const MAX: usize = 44;
    if text.chars().count() <= MAX {
        text.to_string()
    } else {
        format!("{}…", text.chars().take(MAX - 1).collect::<String>())
    }
}

/// UTC `2026-11-26T21:44:28Z` from milliseconds since the epoch.
fn format_time(ms: i64) -> String {
    let time = std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms.max(0) as u64);
    humantime::format_rfc3339_seconds(time).to_string()
}

fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn text_is_escaped() {
        assert_eq!(super::escape(r#"<b>"a" & 'b'</b>"#), "&lt;b&gt;&quot;a&quot; &amp; &#39;b&#39;&lt;/b&gt;");
    }
}
