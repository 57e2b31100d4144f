//! `perfsage fleet`: audit every instance a Prometheus server knows.
//!
//! The queries of `[prometheus.fleet]` build one snapshot per instance
//! (`sources::prometheus::fleet`); the loaded plugins check each one, at most
//! `--concurrency` instances at a time on scoped threads sharing the one
//! plugin runtime; `reports::fleet` groups the findings by class. Exit codes
//! follow the other commands: 3 when a query, an instance's data or a plugin
//! failed (the rest of the fleet is still reported), else 1 for findings at
//! `--fail-on`, else 0.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, UNIX_EPOCH};

use anyhow::{Context, anyhow};
use clap::Args;

use super::args::{OutputArgs, PluginArgs, parse_duration};
use super::commands::{load_engine, write_stdout};
use super::exit::{Exit, Failure};
use crate::pack::RulePack;
use perfsage_engine::Engine;
use perfsage_model::Severity;
use perfsage_ranking::CheckResult;
use perfsage_reports::fleet::{FleetHeader, FleetReport, InstanceOutcome};
use perfsage_sources::prometheus::fleet::{self, FleetOptions};

#[derive(Debug, Args)]
pub struct FleetArgs {
    /// The Prometheus server (or Thanos, Mimir: anything with its query API), e.g.
    /// `http://127.0.0.1:9090`.
    #[arg(long, value_name = "URL", env = "PERFSAGE_PROMETHEUS")]
    prometheus: String,
    /// Label matchers that pick the fleet, e.g. `job="node"` or `{env="prod",job="node"}`;
    /// substituted for `$selector` in every query.
    #[arg(long, value_name = "SELECTOR", default_value = "")]
    selector: String,
    /// The window rates and increases cover, e.g. `15m` [default: the rule pack's
    /// prometheus.fleet.window, 5m].
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    window: Option<Duration>,
    /// Evaluate at this time instead of now (a past incident): RFC 3339
    /// (`2025-05-01T12:00:00Z`) or unix seconds.
    #[arg(long, value_name = "TIME")]
    at: Option<String>,
    /// Queries in flight, and instances checked, at once [default: one per core].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=1024))]
    concurrency: Option<u32>,
    /// Also save each instance's snapshot as DIR/<instance>.json (replay with `perfsage check`).
    #[arg(long, value_name = "DIR")]
    save_snapshots: Option<PathBuf>,
    #[command(flatten)]
    plugins: PluginArgs,
    #[command(flatten)]
    output: OutputArgs,
}

pub fn run(args: FleetArgs) -> Result<Exit, Failure> {
    let pack = RulePack::load(args.plugins.config.as_deref()).map_err(Failure::usage)?;
    let window = match args.window {
        Some(window) => window,
        None => humantime::parse_duration(&pack.prometheus.fleet.window).map_err(Failure::usage)?,
    };
    if window < Duration::from_secs(1) {
        return Err(Failure::usage(anyhow!("--window must be at least 1s (rates need two samples)")));
    }
    let at = args.at.as_deref().map(parse_time).transpose().map_err(Failure::usage)?;
    let concurrency =
        args.concurrency.map_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()), |n| n as usize);
    let options =
        FleetOptions { prometheus: args.prometheus.clone(), selector: args.selector.clone(), window, at, concurrency };
    // A bad URL is the user's to fix; check it before loading plugins.
    perfsage_sources::prometheus::http::HttpUrl::parse(&args.prometheus)
        .context("--prometheus")
        .map_err(Failure::usage)?;
    let engine = load_engine(&args.plugins, &pack)?;
    let started = std::time::Instant::now();
    let fleet = fleet::collect(&options, &pack.prometheus).map_err(|e| match e {
        fleet::FleetError::Url(_) => Failure::usage(e),
        _ => Failure::degraded(anyhow::Error::new(e).context("the fleet could not be read")),
    })?;
    log::info!("{} queries, {} instances in {:?}", fleet.queries, fleet.instances.len(), started.elapsed());
    for failure in &fleet.failures {
        log::error!("{failure}");
    }
    if let Some(dir) = &args.save_snapshots {
        save_snapshots(dir, &fleet.instances)?;
    }

    let started = std::time::Instant::now();
    let results = check_all(&engine, &fleet.instances, concurrency);
    log::info!("checked {} instances in {:?}", results.len(), started.elapsed());
    let outcomes = fleet
        .instances
        .into_iter()
        .zip(results)
        .map(|(i, result)| InstanceOutcome {
            hostname: i.snapshot.meta.hostname.clone(),
            instance: i.instance,
            problems: i.problems,
            result,
        })
        .collect::<Vec<_>>();
    let threshold = args.output.fail_on.map(Severity::from);
    let at_threshold = outcomes.iter().any(|o| o.result.reaches(threshold));
    let header = FleetHeader {
        prometheus: args.prometheus,
        selector: options.selector.trim().trim_start_matches('{').trim_end_matches('}').to_string(),
        window_ms: window.as_millis() as u64,
        evaluated_at_ms: fleet.evaluated_at_ms,
        queries: fleet.queries,
        failed_queries: fleet.failures,
        warnings: fleet.warnings,
    };
    let report = FleetReport::new(header, outcomes);
    if report.instances.is_empty() {
        log::warn!("no instance matched: check --selector and the [prometheus.fleet] queries");
    }
    let color = std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    write_stdout(&report.render(args.output.format.into(), color))?;
    Ok(if report.degraded() {
        Exit::Degraded
    } else if at_threshold {
        Exit::FindingsAtThreshold
    } else {
        Exit::Clean
    })
}

/// Check every snapshot, `concurrency` at a time; results in input order.
fn check_all(engine: &Engine, instances: &[fleet::InstanceSnapshot], concurrency: usize) -> Vec<CheckResult> {
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<CheckResult>>> = Mutex::new((0..instances.len()).map(|_| None).collect());
    std::thread::scope(|scope| {
        for _ in 0..concurrency.clamp(1, instances.len().max(1)) {
            scope.spawn(|| {
                loop {
                    let index = next.fetch_add(1, Ordering::Relaxed);
                    let Some(instance) = instances.get(index) else { break };
                    let result = engine.check(&instance.snapshot);
                    results.lock().unwrap_or_else(|e| e.into_inner())[index] = Some(result);
                }
            });
        }
    });
    results
        .into_inner()
        .unwrap_or_else(|e| e.into_inner())
        .into_iter()
        .map(|r| r.expect("every instance is checked"))
        .collect()
}

fn save_snapshots(dir: &std::path::Path, instances: &[fleet::InstanceSnapshot]) -> Result<(), Failure> {
    std::fs::create_dir_all(dir)
        .with_context(|| format!("--save-snapshots {}", dir.display()))
        .map_err(Failure::usage)?;
    for instance in instances {
        let name: String = instance
            .instance
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() || "-_.".contains(c) { c } else { '_' })
            .collect();
        perfsage_snapshot::save(&dir.join(format!("{name}.json")), &instance.snapshot).map_err(Failure::degraded)?;
    }
    Ok(())
}

/// RFC 3339 or unix seconds.
fn parse_time(text: &str) -> anyhow::Result<f64> {
    if let Ok(seconds) = text.parse::<f64>() {
        return Ok(seconds);
    }
    let time = humantime::parse_rfc3339_weak(text)
        .with_context(|| format!("--at {text:?}: expected RFC 3339 (2025-05-01T12:00:00Z) or unix seconds"))?;
    Ok(time.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs_f64())
}
