//! `perfsage logs`: read access logs and print where the server's time goes,
//! route by route (the reading itself is `sources::access_log`).

use std::io::IsTerminal;
use std::path::PathBuf;

use indicatif::{ProgressBar, ProgressStyle};
use serde_json::json;

use clap::Args;

use super::args::DataFormat;
use super::commands::write_stdout;
use super::exit::{Exit, Failure};
use crate::pack::RulePack;
use perfsage_sources::access_log::{AccessLogSource, Accumulator, Admission, OTHER_ROUTE};
use perfsage_sources::histogram::round3;

#[derive(Debug, Args)]
pub(super) struct LogsArgs {
    /// Access logs (plain or gzip): combined with request times, a `log_format` from --config, or JSON lines.
    #[arg(value_name = "FILE", required = true)]
    files: Vec<PathBuf>,
    /// Rule pack whose [access_log] settings (format, service, route patterns) apply.
    #[arg(long, short = 'c', value_name = "FILE")]
    config: Option<PathBuf>,
    /// How many routes the table shows.
    #[arg(long, default_value_t = 20)]
    top: usize,
    /// Distinct routes kept (the first ones seen); the requests of the others are counted in
    /// one `(other)` route. Overrides [access_log] max_routes (default 10000).
    #[arg(long, value_name = "N")]
    max_routes: Option<usize>,
    #[arg(long, value_enum, default_value_t = DataFormat::Table)]
    format: DataFormat,
}

pub fn run(args: LogsArgs) -> Result<Exit, Failure> {
    let pack = RulePack::load(args.config.as_deref()).map_err(Failure::usage)?;
    let mut settings = pack.access_log.clone();
    if let Some(max_routes) = args.max_routes {
        settings.max_routes = max_routes;
    }
    let source = AccessLogSource::new(&settings).map_err(Failure::usage)?;
    let mut merged = Accumulator::new(Admission::first(source.max_routes));
    for path in &args.files {
        // One cap over all the files: a later file keeps the routes earlier
        // ones kept, and new ones while there is room.
        let admission = Admission {
            reserved: std::sync::Arc::new(merged.routes.keys().cloned().collect()),
            new_slots: source.max_routes.saturating_sub(merged.routes.len()),
        };
        let bar = progress_bar(std::fs::metadata(path).map_or(0, |m| m.len()));
        let analysis = source.analyze_admitting(path, &admission, &|n| bar.inc(n)).map_err(Failure::usage)?;
        bar.finish_and_clear();
        for warning in analysis.bad_line_warning().into_iter().chain(analysis.fold_warning(source.max_routes)) {
            eprintln!("perfsage: warning: {warning}");
        }
        merged.merge(analysis.accumulator);
    }
    let rows = ranked(&merged);
    let text = match args.format {
        DataFormat::Json => format!("{:#}\n", serde_json::Value::Array(rows.iter().map(Row::json).collect())),
        DataFormat::Table => table(&rows, args.top, &merged),
    };
    write_stdout(&text)?;
    Ok(Exit::Clean)
}

/// A byte-counting bar on a terminal's stderr; nothing otherwise.
fn progress_bar(bytes: u64) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(bytes);
    bar.set_style(
        ProgressStyle::with_template("{bar:40} {binary_bytes}/{binary_total_bytes} {binary_bytes_per_sec} {eta}")
            .expect("static template"),
    );
    bar
}

struct Row {
    route: String,
    /// The `(other)` row: the requests of the routes over the cap.
    folded: bool,
    requests: u64,
    errors: u64,
    client_errors: u64,
    p50_ms: f64,
    p95_ms: f64,
    p99_ms: f64,
    mean_ms: f64,
    total_ms: f64,
}

impl Row {
    fn json(&self) -> serde_json::Value {
        json!({
            "route": self.route, "requests": self.requests, "errors": self.errors,
            "client_errors": self.client_errors, "p50_ms": self.p50_ms, "p95_ms": self.p95_ms,
            "p99_ms": self.p99_ms, "mean_ms": self.mean_ms, "total_ms": self.total_ms, "folded": self.folded,
        })
    }
}

/// Routes by total time spent, most first; ties by route. `(other)`, when
/// anything was folded, is ranked like any route and marked `folded`.
fn ranked(acc: &Accumulator) -> Vec<Row> {
    let mut rows: Vec<Row> = acc
        .routes_with_other()
        .map(|(route, s)| {
            let l = s.latency_summary();
            Row {
                // No real route is called that: a route is `METHOD path`.
                folded: route == OTHER_ROUTE.as_bytes(),
                route: String::from_utf8_lossy(route).into_owned(),
                requests: s.requests,
                errors: s.server_errors,
                client_errors: s.client_errors,
                p50_ms: l.p50_ms,
                p95_ms: l.p95_ms,
                p99_ms: l.p99_ms,
                mean_ms: l.mean_ms,
                total_ms: round3(s.total_us as f64 / 1000.0),
            }
        })
        .collect();
    rows.sort_by(|a, b| b.total_ms.total_cmp(&a.total_ms).then_with(|| a.route.cmp(&b.route)));
    rows
}

fn table(rows: &[Row], top: usize, acc: &Accumulator) -> String {
    let all_ms: f64 = rows.iter().map(|r| r.total_ms).sum();
    let mut builder = tabled::builder::Builder::default();
    builder.push_record(["Route", "Requests", "5xx", "4xx", "p50 ms", "p95 ms", "p99 ms", "Total s", "Share"]);
    for r in rows.iter().take(top) {
        builder.push_record([
            r.route.clone(),
            r.requests.to_string(),
            r.errors.to_string(),
            r.client_errors.to_string(),
            format!("{:.1}", r.p50_ms),
            format!("{:.1}", r.p95_ms),
            format!("{:.1}", r.p99_ms),
            format!("{:.1}", r.total_ms / 1000.0),
            format!("{:.1}%", if all_ms > 0.0 { r.total_ms / all_ms * 100.0 } else { 0.0 }),
        ]);
    }
    let mut table = builder.build();
    table.with(tabled::settings::Style::rounded());
    let hidden = rows.len().saturating_sub(top);
    let more = if hidden > 0 { format!(", {hidden} more routes not shown (--top)") } else { String::new() };
    format!("{table}\n{} lines, {} routes, {} unparseable{more}.\n", acc.lines, rows.len(), acc.bad_lines)
}
