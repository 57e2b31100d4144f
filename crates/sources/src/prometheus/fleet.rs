//! `perfsage fleet`: one snapshot per instance, built from a Prometheus
//! server's query API.
//!
//! # Queries, not instances
//!
//! Every snapshot field has one PromQL query in `[prometheus.fleet]` that
//! aggregates `by (instance)` on the server, so a fleet audit sends the same
//! few dozen queries whether the fleet has ten instances or ten thousand, all
//! evaluated at one instant (`--at`, or now) over one window. At most
//! `concurrency` queries are in flight at once. The answers are indexed by
//! instance once, and each instance's snapshot is assembled from its rows.
//!
//! # What is missing is said
//!
//! A query that fails is a fleet-wide failure: it is reported with the
//! server's message, and the fields it fills are absent everywhere. An
//! instance that has host data but lacks a whole section (no memory rows, say)
//! carries a problem for it; the command reports those instances as degraded.
//! Instances seen only in application metrics (endpoint queries) are app
//! targets, not hosts: they get endpoints and no host sections, and that is
//! not a problem. Only when no query at all is answered (Prometheus
//! unreachable, or not Prometheus) does collection fail as a whole.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::api::{ApiError, Client, RangeSeries, VectorSample};
use super::endpoints::{EndpointContext, Observations, endpoints, parse_le};
use super::http::HttpError;
use super::settings::{PrometheusSettings, expand};
use crate::histogram::round3;
use perfsage_model::{Cpu, Disk, Label, Memory, Meta, NetInterface, Network, SCHEMA_VERSION, Series, Snapshot};

/// What to ask and where.
#[derive(Debug, Clone)]
pub struct FleetOptions {
    pub prometheus: String,
    /// Label matchers without braces, e.g. `job="node"`; empty for all.
    pub selector: String,
    pub window: Duration,
    /// Evaluation time (unix seconds); now when `None`.
    pub at: Option<f64>,
    /// Queries in flight at once.
    pub concurrency: usize,
}

/// One instance's snapshot, and what it lacks.
#[derive(Debug, Clone)]
pub struct InstanceSnapshot {
    pub instance: String,
    pub snapshot: Snapshot,
    /// Missing sections of an instance that has host data; non-empty means degraded.
    pub problems: Vec<String>,
}

/// The whole fleet at one instant.
#[derive(Debug)]
pub struct Fleet {
    pub instances: Vec<InstanceSnapshot>,
    /// Queries that failed, each with the server's message.
    pub failures: Vec<String>,
    /// What the server warned about.
    pub warnings: Vec<String>,
    pub evaluated_at_ms: i64,
    pub queries: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum FleetError {
    #[error("--prometheus")]
    Url(#[source] HttpError),
    #[error("cannot start the HTTP runtime")]
    Runtime(#[source] std::io::Error),
    #[error("Prometheus at {url} answered none of the {queries} queries")]
    NothingAnswered {
        url: String,
        queries: usize,
        #[source]
        first: ApiError,
    },
}

/// Fields whose rows make an instance a host.
const HOST_FIELDS: [&str; 4] = ["cpu_cores", "memory_total_bytes", "filesystem_size_bytes", "network_rx_bytes_per_sec"];

type Rows<'a> = HashMap<&'a str, Vec<&'a VectorSample>>;

/// Run the queries and build one snapshot per instance.
pub fn collect(options: &FleetOptions, settings: &PrometheusSettings) -> Result<Fleet, FleetError> {
    let client =
        Client::new(&options.prometheus, Duration::from_millis(settings.timeout_ms)).map_err(FleetError::Url)?;
    let queries = &settings.fleet;
    let window = promql_duration(options.window);
    let selector = options.selector.trim().trim_start_matches('{').trim_end_matches('}').trim().to_string();
    let at =
        options.at.unwrap_or_else(|| SystemTime::now().duration_since(UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64()));
    let instant: Vec<(&'static str, String)> = queries
        .instant_queries()
        .into_iter()
        .map(|(field, q)| (field, expand(q, &selector, &window, &queries.instance_label)))
        .collect();
    let ranged: Vec<(String, String)> = queries
        .series
        .iter()
        .filter(|(_, q)| !q.trim().is_empty())
        .map(|(name, q)| (name.clone(), expand(q, &selector, &window, &queries.instance_label)))
        .collect();
    let step = options.window / (queries.series_points - 1);
    let start = at - options.window.as_secs_f64();

    let runtime = super::http::runtime().map_err(FleetError::Runtime)?;
    let (instant_results, range_results) = runtime.block_on(async {
        let limit = Arc::new(tokio::sync::Semaphore::new(options.concurrency.max(1)));
        let mut tasks = tokio::task::JoinSet::new();
        for (index, (_, promql)) in instant.iter().enumerate() {
            let (client, promql, limit) = (client.clone(), promql.clone(), limit.clone());
            tasks.spawn(async move {
                let _permit = limit.acquire_owned().await;
                (index, Answer::Instant(client.query(&promql, Some(at)).await))
            });
        }
        let offset = instant.len();
        for (index, (_, promql)) in ranged.iter().enumerate() {
            let (client, promql, limit) = (client.clone(), promql.clone(), limit.clone());
            tasks.spawn(async move {
                let _permit = limit.acquire_owned().await;
                (offset + index, Answer::Range(client.query_range(&promql, start, at, step).await))
            });
        }
        let mut instant_results: Vec<Option<Result<_, ApiError>>> = (0..instant.len()).map(|_| None).collect();
        let mut range_results: Vec<Option<Result<_, ApiError>>> = (0..ranged.len()).map(|_| None).collect();
        while let Some(joined) = tasks.join_next().await {
            match joined {
                Ok((index, Answer::Instant(result))) => instant_results[index] = Some(result),
                Ok((index, Answer::Range(result))) => range_results[index - offset] = Some(result),
                Err(panic) => std::panic::resume_unwind(panic.into_panic()),
            }
        }
        (instant_results, range_results)
    });

    let total = instant.len() + ranged.len();
    let mut failures = Vec::new();
    let mut warnings = BTreeSet::new();
    let mut first_error = None;
    let mut answered: HashMap<&'static str, Vec<VectorSample>> = HashMap::new();
    for ((field, promql), result) in instant.iter().zip(instant_results) {
        match result.expect("every query task reports") {
            Ok((rows, server_warnings)) => {
                warnings.extend(server_warnings);
                answered.insert(field, rows);
            }
            Err(error) => {
                failures
                    .push(format!("query {field} failed: {} (PromQL: {promql})", crate::cause::error_chain(&error)));
                first_error.get_or_insert(error);
            }
        }
    }
    let mut series: Vec<(String, Vec<RangeSeries>)> = Vec::new();
    for ((name, promql), result) in ranged.iter().zip(range_results) {
        match result.expect("every query task reports") {
            Ok((rows, server_warnings)) => {
                warnings.extend(server_warnings);
                series.push((name.clone(), rows));
            }
            Err(error) => {
                failures
                    .push(format!("series {name} failed: {} (PromQL: {promql})", crate::cause::error_chain(&error)));
                first_error.get_or_insert(error);
            }
        }
    }
    if answered.is_empty()
        && series.is_empty()
        && let Some(first) = first_error
    {
        return Err(FleetError::NothingAnswered { url: options.prometheus.clone(), queries: total, first });
    }

    let label = &queries.instance_label;
    let mut by_instance: BTreeMap<&str, Rows> = BTreeMap::new();
    for (field, rows) in &answered {
        for row in rows {
            if let Some(instance) = row.labels.get(label) {
                by_instance.entry(instance.as_str()).or_default().entry(*field).or_default().push(row);
            }
        }
    }
    let mut series_by_instance: HashMap<&str, Vec<Series>> = HashMap::new();
    for (name, rows) in &series {
        for row in rows {
            if let Some(instance) = row.labels.get(label) {
                series_by_instance.entry(instance.as_str()).or_default().push(to_series(name, row));
            }
        }
    }
    for instance in series_by_instance.keys() {
        by_instance.entry(*instance).or_default();
    }
    let taken_at_ms = (at * 1000.0).round() as i64;
    let context = InstanceContext {
        settings,
        window_ms: options.window.as_millis() as u64,
        taken_at_ms,
        source: format!("prometheus:{}", options.prometheus),
    };
    let instances = by_instance
        .into_iter()
        .map(|(instance, rows)| context.build(instance, &rows, series_by_instance.remove(instance).unwrap_or_default()))
        .collect();
    Ok(Fleet {
        instances,
        failures,
        warnings: warnings.into_iter().collect(),
        evaluated_at_ms: taken_at_ms,
        queries: total,
    })
}

enum Answer {
    Instant(Result<(Vec<VectorSample>, Vec<String>), ApiError>),
    Range(Result<(Vec<RangeSeries>, Vec<String>), ApiError>),
}

/// A Duration as PromQL writes it: whole seconds (at least 1s), or ms below.
pub fn promql_duration(window: Duration) -> String {
    if window.as_millis().is_multiple_of(1000) && window.as_secs() > 0 {
        format!("{}s", window.as_secs())
    } else {
        format!("{}ms", window.as_millis().max(1))
    }
}

fn to_series(name: &str, row: &RangeSeries) -> Series {
    let (timestamps_ms, values) =
        row.points.iter().filter(|(_, v)| v.is_finite()).map(|(t, v)| (*t, round3(*v))).unzip();
    Series {
        name: name.to_string(),
        labels: row.labels.iter().map(|(n, v)| Label { name: n.clone(), value: v.clone() }).collect(),
        timestamps_ms,
        values,
    }
}

struct InstanceContext<'a> {
    settings: &'a PrometheusSettings,
    window_ms: u64,
    taken_at_ms: i64,
    source: String,
}

/// One instance's rows, field by field.
struct InstanceRows<'a, 'r> {
    rows: &'r Rows<'a>,
}

impl InstanceRows<'_, '_> {
    fn all(&self, field: &str) -> &[&VectorSample] {
        self.rows.get(field).map_or(&[], |v| v.as_slice())
    }

    /// The instance's single finite value of `field`.
    fn value(&self, field: &str) -> Option<f64> {
        self.all(field).iter().map(|r| r.value).find(|v| v.is_finite())
    }

    /// The finite value of `field` on the row whose `label` is `key`.
    fn value_at(&self, field: &str, label: &str, key: &str) -> Option<f64> {
        self.all(field)
            .iter()
            .find(|r| r.labels.get(label).is_some_and(|v| v == key))
            .map(|r| r.value)
            .filter(|v| v.is_finite())
    }
}

impl InstanceContext<'_> {
    fn build(&self, instance: &str, rows: &Rows, series: Vec<Series>) -> InstanceSnapshot {
        let r = InstanceRows { rows };
        let uname = r.all("uname_info").first();
        let meta = Meta {
            schema_version: SCHEMA_VERSION,
            taken_at_ms: self.taken_at_ms,
            window_ms: self.window_ms,
            hostname: uname.and_then(|u| u.labels.get("nodename")).cloned().unwrap_or_else(|| instance.to_string()),
            os: "unknown".into(),
            kernel: uname.and_then(|u| u.labels.get("release")).cloned().unwrap_or_else(|| "unknown".into()),
            sources: vec![self.source.clone()],
        };
        let endpoints = self.endpoints(instance, &r);
        let snapshot = Snapshot {
            cpu: cpu(&r),
            memory: memory(&r),
            disks: disks(&r),
            network: network(&r),
            endpoints: (!endpoints.is_empty()).then_some(endpoints),
            series: (!series.is_empty()).then_some(series),
            ..Snapshot::empty(meta)
        };
        let mut problems = Vec::new();
        let is_host = HOST_FIELDS.iter().any(|f| rows.contains_key(f));
        // A host lacking a section is degraded; so is an instance left with nothing to check.
        if is_host || snapshot.endpoints.is_none() {
            let sections = [
                ("cpu", snapshot.cpu.is_some(), "cpu_cores, cpu_utilization_pct"),
                ("memory", snapshot.memory.is_some(), "memory_total_bytes, memory_available_bytes"),
                ("disks", snapshot.disks.is_some(), "filesystem_size_bytes, filesystem_free_bytes"),
                ("network", snapshot.network.is_some(), "network_rx_bytes_per_sec, network_tx_bytes_per_sec"),
            ];
            for (section, present, fields) in sections {
                if !present {
                    problems.push(format!("no {section} section: {fields} gave nothing for this instance"));
                }
            }
        }
        InstanceSnapshot { instance: instance.to_string(), snapshot, problems }
    }

    fn endpoints(&self, instance: &str, r: &InstanceRows) -> Vec<perfsage_model::Endpoint> {
        let label = &self.settings.fleet.instance_label;
        let labels = |row: &VectorSample| -> Vec<(String, String)> {
            row.labels
                .iter()
                .filter(|(n, _)| *n != label && n.as_str() != "le")
                .map(|(n, v)| (n.clone(), v.clone()))
                .collect()
        };
        let mut observations = Observations::default();
        for row in r.all("endpoint_buckets") {
            let Some(le) = row.labels.get("le").and_then(|le| parse_le(le)) else { continue };
            let value = if row.value.is_finite() { row.value } else { 0.0 };
            observations.buckets.push((labels(row), if le.is_finite() { le * 1000.0 } else { le }, value));
        }
        for row in r.all("endpoint_requests") {
            observations.histogram_counts.push((labels(row), if row.value.is_finite() { row.value } else { 0.0 }));
        }
        for row in r.all("endpoint_seconds") {
            observations.sums_ms.push((labels(row), if row.value.is_finite() { row.value * 1000.0 } else { 0.0 }));
        }
        let context = EndpointContext {
            metrics: &self.settings.endpoints,
            default_service: instance,
            window_ms: Some(self.window_ms),
        };
        endpoints(&observations, &context)
    }
}

fn pct(value: Option<f64>) -> Option<f64> {
    value.map(|v| round3(v).clamp(0.0, 100.0))
}

fn cpu(r: &InstanceRows) -> Option<Cpu> {
    let cores = r.value("cpu_cores")?;
    let utilization = r.value("cpu_utilization_pct")?;
    let mut per_core: Vec<(u64, String, f64)> = r
        .all("cpu_per_core_pct")
        .iter()
        .filter_map(|row| {
            let cpu = row.labels.get("cpu")?;
            Some((cpu.parse().unwrap_or(u64::MAX), cpu.clone(), if row.value.is_finite() { row.value } else { 0.0 }))
        })
        .collect();
    per_core.sort_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)));
    Some(Cpu {
        logical_cores: cores.max(0.0) as u32,
        utilization_pct: round3(utilization).clamp(0.0, 100.0),
        per_core_pct: per_core.into_iter().map(|(_, _, v)| round3(v).clamp(0.0, 100.0)).collect(),
        load1: round3(r.value("load1").unwrap_or(0.0)),
        load5: round3(r.value("load5").unwrap_or(0.0)),
        load15: round3(r.value("load15").unwrap_or(0.0)),
        iowait_pct: pct(r.value("cpu_iowait_pct")),
        steal_pct: pct(r.value("cpu_steal_pct")),
        context_switches_per_sec: r.value("context_switches_per_sec").map(round3),
    })
}

fn memory(r: &InstanceRows) -> Option<Memory> {
    let total = r.value("memory_total_bytes")?;
    let available = r.value("memory_available_bytes")?;
    let swap_total = r.value("swap_total_bytes").unwrap_or(0.0);
    let swap_free = r.value("swap_free_bytes").unwrap_or(swap_total);
    Some(Memory {
        total_bytes: total.max(0.0) as u64,
        used_bytes: (total - available).max(0.0) as u64,
        available_bytes: available.max(0.0) as u64,
        swap_total_bytes: swap_total.max(0.0) as u64,
        swap_used_bytes: (swap_total - swap_free).max(0.0) as u64,
        swap_in_per_sec: r.value("swap_in_per_sec").map(round3),
        swap_out_per_sec: r.value("swap_out_per_sec").map(round3),
        major_faults_per_sec: r.value("major_faults_per_sec").map(round3),
        oom_kills: r.value("oom_kills").map(|v| v.max(0.0) as u64),
    })
}

fn disks(r: &InstanceRows) -> Option<Vec<Disk>> {
    let mut disks: Vec<Disk> = r
        .all("filesystem_size_bytes")
        .iter()
        .filter_map(|row| {
            let mount = row.labels.get("mountpoint")?.clone();
            let device = row.labels.get("device").cloned().unwrap_or_default();
            let size = Some(row.value).filter(|v| v.is_finite())?;
            let at = |field: &str| r.value_at(field, "mountpoint", &mount);
            let free = at("filesystem_free_bytes");
            let files = at("filesystem_files").filter(|f| *f > 0.0);
            let block = device.strip_prefix("/dev/").unwrap_or(&device).to_string();
            let io = |field: &str| r.value_at(field, "device", &block).map(round3);
            Some(Disk {
                filesystem: row.labels.get("fstype").cloned().unwrap_or_default(),
                total_bytes: size.max(0.0) as u64,
                used_bytes: free.map_or(0.0, |free| (size - free).max(0.0)) as u64,
                inodes_total: files.map(|f| f as u64),
                inodes_used: files.zip(at("filesystem_files_free")).map(|(f, free)| (f - free).max(0.0) as u64),
                read_bytes_per_sec: io("disk_read_bytes_per_sec"),
                write_bytes_per_sec: io("disk_write_bytes_per_sec"),
                utilization_pct: pct(io("disk_utilization_pct")),
                growth_bytes_per_sec: at("filesystem_growth_bytes_per_sec").map(round3),
                mount,
                device,
            })
        })
        .collect();
    if disks.is_empty() {
        return None;
    }
    disks.sort_by(|a, b| a.mount.cmp(&b.mount));
    disks.dedup_by(|a, b| a.mount == b.mount);
    Some(disks)
}

fn network(r: &InstanceRows) -> Option<Network> {
    let devices: BTreeSet<&String> =
        r.all("network_rx_bytes_per_sec").iter().filter_map(|row| row.labels.get("device")).collect();
    let retransmits = r.value("tcp_retransmits_per_sec");
    if devices.is_empty() && retransmits.is_none() {
        return None;
    }
    let interfaces = devices
        .into_iter()
        .map(|device| {
            let at = |field: &str| r.value_at(field, "device", device);
            let count = |field: &str| at(field).map_or(0, |v| v.max(0.0).round() as u64);
            NetInterface {
                name: device.clone(),
                rx_bytes_per_sec: round3(at("network_rx_bytes_per_sec").unwrap_or(0.0)),
                tx_bytes_per_sec: round3(at("network_tx_bytes_per_sec").unwrap_or(0.0)),
                rx_errors: count("network_rx_errors"),
                tx_errors: count("network_tx_errors"),
                rx_drops: count("network_rx_drops"),
                tx_drops: count("network_tx_drops"),
                rx_packets: count("network_rx_packets"),
                tx_packets: count("network_tx_packets"),
                speed_mbps: at("network_speed_mbps").filter(|s| *s > 0.0).map(|s| s.round() as u64),
                duplex: None,
            }
        })
        .collect();
    Some(Network {
        interfaces,
        tcp_retransmits_per_sec: retransmits.map(round3),
        tcp_retransmit_pct: pct(r.value("tcp_retransmit_pct")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_in_promql() {
        assert_eq!(promql_duration(Duration::from_secs(900)), "900s");
        assert_eq!(promql_duration(Duration::from_millis(1500)), "1500ms");
        assert_eq!(promql_duration(Duration::ZERO), "1ms");
    }
}
