//! `collect`: every source the command line and the rule pack name, into one
//! snapshot. The system sample (or `--scrape-host`) first, then the probes,
//! access logs, slow logs and scrape targets; the database servers in
//! parallel, one thread each.

use std::path::PathBuf;

use serde::Deserialize;
use std::time::Duration;

use perfsage_model::Snapshot;

use crate::access_log::{self, AccessLogSettings, AccessLogSource};
use crate::cause::error_chain;
use crate::probe::{self, ProbeOptions};
use crate::{database, digest, mysql, postgres, prometheus, system};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
/// `[collect]`: the sampling window and how many processes the snapshot names.
pub struct CollectSettings {
    pub window_ms: u64,
    pub top_processes: usize,
}

impl Default for CollectSettings {
    fn default() -> Self {
        CollectSettings { window_ms: 1000, top_processes: 10 }
    }
}

impl CollectSettings {
    /// Refuse a window no sample can be taken in, or one that never ends.
    pub fn check(&self) -> Result<(), String> {
        if (10..=600_000).contains(&self.window_ms) {
            Ok(())
        } else {
            Err("collect.window_ms must be 10..=600000".into())
        }
    }
}

/// What the collectors gathered, and what went wrong on the way.
#[derive(Debug)]
pub struct Collected {
    pub snapshot: Snapshot,
    /// Problems that did not stop collection (an unreadable /proc file, unparseable log lines,
    /// a statistics view without the privilege to read it, ...), each naming its source.
    pub warnings: Vec<String>,
    /// Optional sources that gave nothing (an unreadable access log, a database that refused
    /// the connection), with their cause chains; the snapshot lacks their sections.
    pub failures: Vec<String>,
}

/// Collection settings from the rule pack and the command line.
#[derive(Debug, Clone)]
pub struct CollectOptions {
    pub window: Duration,
    pub top_processes: usize,
    /// URLs to probe (`run --probe`), with how.
    pub probe: Vec<String>,
    pub probe_options: ProbeOptions,
    /// Access logs to read (`run --access-log`), with the rule pack's format settings.
    pub access_logs: Vec<PathBuf>,
    pub access_log: AccessLogSettings,
    /// PostgreSQL servers to read, as `postgresql://` URLs.
    pub postgres: Vec<String>,
    /// MySQL or MariaDB servers to read, as `mysql://` URLs.
    pub mysql: Vec<String>,
    /// The most one database source may take, connect to goodbye (`[sources] timeout_ms`).
    pub source_timeout: Duration,
    /// Slow query logs to digest into `queries` (`run --slow-log`), with the rule pack's caps.
    pub slow_logs: Vec<PathBuf>,
    pub slow_log: digest::SlowLogSettings,
    /// `/metrics` expositions whose application histograms and counters become endpoints (`run --scrape`).
    pub scrape: Vec<prometheus::scrape::ScrapeTarget>,
    /// A node_exporter whose host sections replace this machine's (`run --scrape-host`):
    /// the local system collector does not run, and there is no processes section.
    pub scrape_host: Option<prometheus::scrape::ScrapeTarget>,
    /// Metric names for both (the rule pack's `[prometheus]`).
    pub prometheus: prometheus::PrometheusSettings,
}

/// Collect this machine, then probe the URLs, read the access logs, the
/// database servers and the slow logs; their sections join the system
/// sections in one snapshot.
pub fn collect(options: &CollectOptions) -> Result<Collected, CollectError> {
    // Scrape targets are read once before the sampling window and once after,
    // so their rates cover the same window as the system's.
    let targets: Vec<_> = options
        .scrape_host
        .iter()
        .map(|t| (t.clone(), true))
        .chain(options.scrape.iter().map(|t| (t.clone(), false)))
        .collect();
    let begun = prometheus::scrape::begin(&targets, &options.prometheus);
    let mut collected = match &options.scrape_host {
        None => {
            let source = system::SystemSource { window: options.window, top_processes: options.top_processes };
            let sample = source.collect()?;
            let warnings = sample.warnings.clone();
            Collected { snapshot: sample.into_snapshot(), warnings, failures: Vec::new() }
        }
        Some(_) => {
            std::thread::sleep(options.window);
            Collected {
                snapshot: Snapshot::empty(scraped_host_meta(options.window)),
                warnings: Vec::new(),
                failures: Vec::new(),
            }
        }
    };
    for (index, result) in prometheus::scrape::finish(begun, &options.prometheus).into_iter().enumerate() {
        let is_host = index == 0 && options.scrape_host.is_some();
        match result {
            Ok(scraped) => collected.add_scraped(scraped),
            // Without its host there is nothing to check: that ends the collection.
            Err(error) if is_host => return Err(CollectError::ScrapeHost(error)),
            Err(error) => collected.failures.push(error_chain(&error)),
        }
    }
    if !options.probe.is_empty() {
        for result in probe::probe(&options.probe, &options.probe_options, &|_, _, _| {})? {
            collected.add_endpoints(format!("probe:{}", result.url), vec![result.endpoint()], Vec::new());
        }
    }
    if !options.access_logs.is_empty() {
        let source = AccessLogSource::new(&options.access_log)?;
        for path in &options.access_logs {
            match source.analyze(path, &|_| {}) {
                Ok(mut analysis) => {
                    collected.warnings.extend(analysis.bad_line_warning());
                    collected.warnings.extend(analysis.fold_warning(source.max_routes));
                    let endpoints = analysis.accumulator.endpoints(&source.service);
                    let series = analysis.accumulator.series(&source.service);
                    collected.add_endpoints(format!("access-log:{}", path.display()), endpoints, series);
                }
                Err(e) => collected.failures.push(error_chain(&e)),
            }
        }
    }
    for result in collect_databases(options) {
        match result {
            Ok(sample) => collected.add_database(sample),
            Err(error) => collected.failures.push(error_chain(&error)),
        }
    }
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    for path in &options.slow_logs {
        match digest::digest_file(path, threads, &options.slow_log) {
            Ok(digest) => {
                collected.warnings.extend(digest.corrupt_warning(path));
                collected.warnings.extend(digest.limit_warnings(path));
                collected.snapshot.meta.sources.push(format!("slow-log:{}", path.display()));
                collected.snapshot.queries.get_or_insert_with(Vec::new).extend(digest.queries());
            }
            Err(e) => collected.failures.push(format!("slow log {}: {}", path.display(), error_chain(&e))),
        }
    }
    Ok(collected)
}

/// Read every database server at once, one thread each, so the sources'
/// deadlines do not add up: the slowest server bounds the whole read.
/// Results come back in the order given, PostgreSQL first.
fn collect_databases(options: &CollectOptions) -> Vec<Result<database::DatabaseSample, database::DatabaseError>> {
    let timeout = options.source_timeout;
    std::thread::scope(|scope| {
        let postgres = options.postgres.iter().map(|url| scope.spawn(move || postgres::collect(url, timeout)));
        let mysql = options.mysql.iter().map(|url| scope.spawn(move || mysql::collect(url, timeout)));
        let running: Vec<_> = postgres.chain(mysql).collect();
        running
            .into_iter()
            .map(|thread| thread.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic)))
            .collect()
    })
}

/// Why collection produced no snapshot at all.
#[derive(Debug, thiserror::Error)]
pub enum CollectError {
    #[error(transparent)]
    System(#[from] system::SystemError),
    #[error("probe")]
    Probe(#[from] probe::ProbeError),
    #[error("access logs")]
    AccessLog(#[from] access_log::AccessLogError),
    #[error("--scrape-host")]
    ScrapeHost(#[source] prometheus::scrape::ScrapeError),
}

/// Meta for a snapshot whose host is a scraped node_exporter; the scrape fills in its name.
fn scraped_host_meta(window: Duration) -> perfsage_model::Meta {
    perfsage_model::Meta {
        schema_version: perfsage_model::SCHEMA_VERSION,
        taken_at_ms: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64),
        window_ms: window.as_millis() as u64,
        hostname: "unknown".into(),
        os: "unknown".into(),
        kernel: "unknown".into(),
        sources: Vec::new(),
    }
}

impl Collected {
    fn add_endpoints(
        &mut self,
        source: String,
        endpoints: Vec<perfsage_model::Endpoint>,
        series: Vec<perfsage_model::Series>,
    ) {
        self.snapshot.meta.sources.push(source);
        self.snapshot.endpoints.get_or_insert_with(Vec::new).extend(endpoints);
        if !series.is_empty() {
            self.snapshot.series.get_or_insert_with(Vec::new).extend(series);
        }
    }

    /// Merge one scrape: its endpoints, and its host sections when it is the host.
    fn add_scraped(&mut self, scraped: prometheus::scrape::Scraped) {
        self.warnings.extend(scraped.warnings);
        let snapshot = &mut self.snapshot;
        match scraped.host {
            Some(host) => {
                if host.cpu.is_none() && host.memory.is_none() && host.disks.is_none() && host.network.is_none() {
                    self.failures.push(format!(
                        "--scrape-host {}: no node_exporter host metrics in the exposition (names from [prometheus.node])",
                        scraped.label
                    ));
                }
                snapshot.meta.sources.push(format!("scrape-host:{}", scraped.label));
                let meta = &mut snapshot.meta;
                meta.hostname = host.hostname.unwrap_or_else(|| scraped.label.clone());
                meta.os = host.os.unwrap_or_else(|| "unknown".into());
                meta.kernel = host.kernel.unwrap_or_else(|| "unknown".into());
                snapshot.cpu = host.cpu;
                snapshot.memory = host.memory;
                snapshot.disks = host.disks;
                snapshot.network = host.network;
                if !scraped.endpoints.is_empty() {
                    snapshot.endpoints.get_or_insert_with(Vec::new).extend(scraped.endpoints);
                }
            }
            None => self.add_endpoints(format!("scrape:{}", scraped.label), scraped.endpoints, Vec::new()),
        }
    }

    /// Merge one server's sample into the snapshot, next to the system sections.
    fn add_database(&mut self, sample: database::DatabaseSample) {
        let snapshot = &mut self.snapshot;
        snapshot.meta.sources.push(sample.label);
        snapshot.databases.get_or_insert_with(Vec::new).push(sample.database);
        snapshot.queries.get_or_insert_with(Vec::new).extend(sample.queries);
        self.warnings.extend(sample.warnings);
    }
}
