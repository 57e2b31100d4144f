//! `perfsage probe`: load a URL and print latency percentiles, throughput and
//! errors by class (the measuring itself is `sources::probe`).

use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, anyhow};
use hdrhistogram::Histogram;
use hyper::header::{HeaderName, HeaderValue};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::json;

use clap::Args;

use super::args::{DataFormat, parse_duration};
use super::commands::write_stdout;
use super::exit::{Exit, Failure};
use perfsage_sources::histogram::{round3, summary};
use perfsage_sources::probe::{ErrorCounts, ProbeOptions, ProbeResult, probe};

#[derive(Debug, Args)]
pub(super) struct ProbeArgs {
    /// The URLs to probe (http://), one after another.
    #[arg(value_name = "URL", required = true)]
    urls: Vec<String>,
    /// Concurrent keep-alive connections.
    #[arg(short, long, default_value_t = 16)]
    connections: usize,
    /// How long to probe each URL [default: 10s unless --requests is given].
    #[arg(short, long, value_name = "DURATION", value_parser = parse_duration)]
    duration: Option<Duration>,
    /// Stop after this many requests per URL.
    #[arg(short = 'n', long, value_name = "COUNT")]
    requests: Option<u64>,
    /// Fixed request rate per second (open model: latency counts from the intended send time).
    #[arg(long, value_name = "PER_SECOND")]
    rate: Option<f64>,
    /// HTTP method.
    #[arg(short = 'X', long, default_value = "GET")]
    method: String,
    /// Extra request header `Name: value`; repeatable.
    #[arg(short = 'H', long, value_name = "HEADER")]
    header: Vec<String>,
    /// Request body.
    #[arg(long, conflicts_with = "body_file")]
    body: Option<String>,
    /// Request body from a file.
    #[arg(long, value_name = "FILE")]
    body_file: Option<PathBuf>,
    /// Per-request timeout, connect included.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, default_value = "5s")]
    timeout: Duration,
    /// Threads, each running its share of the connections [default: one per core].
    #[arg(long)]
    threads: Option<usize>,
    #[arg(long, value_enum, default_value_t = DataFormat::Table)]
    format: DataFormat,
}

pub fn run(args: ProbeArgs) -> Result<Exit, Failure> {
    let options = args.options()?;
    let bar = progress_bar();
    let results = probe(&args.urls, &options, &|url, done, elapsed| {
        bar.set_message(format!("{url}: {done} requests in {:.1} s", elapsed.as_secs_f64()));
    })
    .map_err(Failure::usage)?;
    bar.finish_and_clear();
    let text = match args.format {
        DataFormat::Json => format!("{:#}\n", report_json(&results)),
        DataFormat::Table => report_table(&results),
    };
    write_stdout(&text)?;
    // A target nothing could reach was not measured: the source failed.
    let unreachable = results.iter().any(|r| r.requests > 0 && r.errors.connect == r.requests);
    Ok(if unreachable { Exit::Degraded } else { Exit::Clean })
}

impl ProbeArgs {
    /// The probe options these arguments ask for.
    fn options(&self) -> Result<ProbeOptions, Failure> {
        let headers = self
            .header
            .iter()
            .map(|h| parse_header(h).with_context(|| format!("--header {h:?}")))
            .collect::<anyhow::Result<Vec<_>>>()
            .map_err(Failure::usage)?;
        let method = self
            .method
            .parse()
            .map_err(|_| Failure::usage(anyhow!("--method {:?} is not an HTTP method", self.method)))?;
        let body = match (&self.body, &self.body_file) {
            (Some(text), None) => bytes::Bytes::from(text.clone()),
            (None, Some(path)) => std::fs::read(path)
                .with_context(|| format!("--body-file {}", path.display()))
                .map_err(Failure::usage)?
                .into(),
            _ => bytes::Bytes::new(),
        };
        let defaults = ProbeOptions::new(self.connections, Duration::from_secs(10));
        Ok(ProbeOptions {
            // Without either bound, probe for 10 s.
            duration: if self.requests.is_some() { self.duration } else { self.duration.or(defaults.duration) },
            requests: self.requests,
            rate: self.rate,
            method,
            headers,
            body,
            timeout: self.timeout,
            threads: self.threads.unwrap_or(defaults.threads),
            ..defaults
        })
    }
}

fn parse_header(text: &str) -> anyhow::Result<(HeaderName, HeaderValue)> {
    let (name, value) = text.split_once(':').ok_or_else(|| anyhow!("expected `Name: value`"))?;
    Ok((HeaderName::try_from(name.trim())?, HeaderValue::try_from(value.trim())?))
}

/// A spinner on a terminal's stderr; nothing otherwise.
pub(super) fn progress_bar() -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new_spinner();
    bar.set_style(ProgressStyle::with_template("{spinner} {msg}").expect("static template"));
    bar.enable_steady_tick(Duration::from_millis(100));
    bar
}

/// The totals over every URL: one merged histogram.
struct Totals {
    requests: u64,
    errors: ErrorCounts,
    elapsed: Duration,
    latency: Histogram<u64>,
    total_us: u64,
}

fn totals(results: &[ProbeResult]) -> Totals {
    let mut t = Totals {
        requests: 0,
        errors: ErrorCounts::default(),
        elapsed: Duration::ZERO,
        latency: Histogram::new_with_bounds(1, 3_600_000_000, 3).expect("static bounds"),
        total_us: 0,
    };
    for r in results {
        t.requests += r.requests;
        t.elapsed += r.elapsed;
        t.latency.add(&r.latency).expect("same bounds");
        t.total_us += r.latency_total_us;
        let e = r.errors;
        t.errors.connect += e.connect;
        t.errors.timeout += e.timeout;
        t.errors.io += e.io;
        t.errors.status_4xx += e.status_4xx;
        t.errors.status_5xx += e.status_5xx;
    }
    t
}

fn measured_json(
    requests: u64,
    errors: &ErrorCounts,
    elapsed: Duration,
    latency: &Histogram<u64>,
    total_us: u64,
) -> serde_json::Value {
    let l = summary(latency, total_us, latency.max());
    json!({
        "requests": requests,
        "errors": errors.total(),
        "errors_by_class": errors,
        "duration_s": round3(elapsed.as_secs_f64()),
        "throughput_rps": round3(requests as f64 / elapsed.as_secs_f64().max(1e-9)),
        "latency": {
            "p50_ms": l.p50_ms, "p90_ms": l.p90_ms, "p95_ms": l.p95_ms, "p99_ms": l.p99_ms,
            "p999_ms": l.p999_ms, "max_ms": l.max_ms, "mean_ms": l.mean_ms,
        },
    })
}

/// Totals at the top level, then one entry per URL under `targets`.
fn report_json(results: &[ProbeResult]) -> serde_json::Value {
    let t = totals(results);
    let mut report = measured_json(t.requests, &t.errors, t.elapsed, &t.latency, t.total_us);
    report["targets"] = results
        .iter()
        .map(|r| {
            let mut entry = measured_json(r.requests, &r.errors, r.elapsed, &r.latency, r.latency_total_us);
            entry["url"] = json!(r.url);
            entry
        })
        .collect();
    report
}

fn report_table(results: &[ProbeResult]) -> String {
    let mut builder = tabled::builder::Builder::default();
    builder.push_record([
        "URL", "Requests", "Req/s", "p50 ms", "p90 ms", "p95 ms", "p99 ms", "p99.9 ms", "Max ms", "Mean ms", "Errors",
    ]);
    for r in results {
        let l = r.endpoint().latency;
        let e = r.errors;
        let errors = format!(
            "{} (connect {}, timeout {}, io {}, 4xx {}, 5xx {})",
            e.total(),
            e.connect,
            e.timeout,
            e.io,
            e.status_4xx,
            e.status_5xx
        );
        builder.push_record([
            r.url.clone(),
            r.requests.to_string(),
            format!("{:.1}", r.throughput_rps()),
            format!("{:.2}", l.p50_ms),
            format!("{:.2}", l.p90_ms),
            format!("{:.2}", l.p95_ms),
            format!("{:.2}", l.p99_ms),
            format!("{:.2}", l.p999_ms),
            format!("{:.2}", l.max_ms),
            format!("{:.2}", l.mean_ms),
            errors,
        ]);
    }
    let mut table = builder.build();
    table.with(tabled::settings::Style::rounded());
    format!("{table}\n")
}
