//! Run a rule natively, the way the host would: defaults resolved from
//! `describe()`, configuration overlaid, sections it did not declare removed.
//! For unit tests and native benchmarks of rule logic.
//!
//! Beside the runner, the builders tests of several plugins share: a record
//! with plain defaults, that a test completes with the fields its rule
//! reads, `Endpoint { errors: 150, ..endpoint("POST /pay", 1000, uniform_latency(12.0)) }`.

use crate::{
    Bucket, Config, ConfigEntry, Cpu, Endpoint, Finding, Latency, ParamValue, Process, Query, Rule, Section, Snapshot,
    TableStat,
};

/// Parse a snapshot from the JSON that `perfsage snapshot` writes. Behind the
/// `json` feature so that Wasm builds of plugins do not carry serde_json.
#[cfg(feature = "json")]
pub fn snapshot_from_json(json: &str) -> Result<Snapshot, String> {
    serde_json::from_str(json).map_err(|e| format!("not a perfsage snapshot: {e}"))
}

/// The ids of a finding's actions, in order.
pub fn action_ids(finding: &Finding) -> Vec<&str> {
    finding.actions.iter().map(|a| a.id.as_str()).collect()
}

/// Numeric configuration entries, for `check`'s `overrides`.
pub fn numbers(overrides: &[(&str, f64)]) -> Vec<ConfigEntry> {
    overrides.iter().map(|(name, v)| ConfigEntry { name: (*name).into(), value: ParamValue::Number(*v) }).collect()
}

/// Check `snapshot` with `R`, as the host would after resolving `overrides`.
pub fn check<R: Rule>(snapshot: &Snapshot, overrides: Vec<ConfigEntry>) -> Result<Vec<Finding>, String> {
    let info = R::describe();
    let sections: Vec<Section> = info.needs.iter().chain(&info.uses).copied().collect();
    let visible = only_sections(snapshot, &sections);
    R::check(&visible, &Config::resolve(&info.params, overrides))
}

/// A copy of the snapshot holding only the given sections (plus `meta`).
pub fn only_sections(snapshot: &Snapshot, needs: &[Section]) -> Snapshot {
    let has = |s: Section| needs.contains(&s);
    Snapshot {
        meta: snapshot.meta.clone(),
        cpu: snapshot.cpu.as_ref().filter(|_| has(Section::Cpu)).cloned(),
        memory: snapshot.memory.as_ref().filter(|_| has(Section::Memory)).cloned(),
        disks: snapshot.disks.as_ref().filter(|_| has(Section::Disks)).cloned(),
        network: snapshot.network.as_ref().filter(|_| has(Section::Network)).cloned(),
        processes: snapshot.processes.as_ref().filter(|_| has(Section::Processes)).cloned(),
        endpoints: snapshot.endpoints.as_ref().filter(|_| has(Section::Endpoints)).cloned(),
        queries: snapshot.queries.as_ref().filter(|_| has(Section::Queries)).cloned(),
        databases: snapshot.databases.as_ref().filter(|_| has(Section::Databases)).cloned(),
        series: snapshot.series.as_ref().filter(|_| has(Section::Series)).cloned(),
    }
}

/// A snapshot of a test host (a one-minute window) with every section absent;
/// a test fills in the sections its rule reads:
/// `Snapshot { endpoints: Some(..), ..empty_snapshot() }`.
pub fn empty_snapshot() -> Snapshot {
    Snapshot {
        meta: crate::Meta {
            schema_version: perfsage_contract::meta::SCHEMA_VERSION,
            taken_at_ms: 1_750_000_000_000,
            window_ms: 60_000,
            hostname: "crm-web-1".into(),
            os: "Ubuntu 24.04".into(),
            kernel: "6.8.0".into(),
            sources: vec!["system".into()],
        },
        cpu: None,
        memory: None,
        disks: None,
        network: None,
        processes: None,
        endpoints: None,
        queries: None,
        databases: None,
        series: None,
    }
}

/// A database named `crm` of `engine` with these status counters and
/// settings, 10 of 100 connections used, and nothing else; a test sets the
/// fields its rule reads: `Database { temp_files: Some(9), ..database("mariadb", &[]) }`.
pub fn database(engine: &str, status: &[(&str, f64)]) -> crate::Database {
    crate::Database {
        name: "crm".into(),
        engine: engine.into(),
        connections_used: 10,
        connections_max: 100,
        cache_hit_ratio: None,
        lock_waits: 0,
        idle_in_transaction: 0,
        deadlocks: None,
        temp_files: None,
        transactions: vec![],
        tables: vec![],
        status: status.iter().map(|(name, value)| crate::NamedValue { name: (*name).into(), value: *value }).collect(),
    }
}

/// The memory section of a host with `total_gib` installed, all of it
/// available, no swap and no pressure.
pub fn memory_gib(total_gib: f64) -> crate::Memory {
    let bytes = (total_gib * 1024.0 * 1024.0 * 1024.0) as u64;
    crate::Memory {
        total_bytes: bytes,
        used_bytes: 0,
        available_bytes: bytes,
        swap_total_bytes: 0,
        swap_used_bytes: 0,
        swap_in_per_sec: None,
        swap_out_per_sec: None,
        major_faults_per_sec: None,
        oom_kills: None,
    }
}

/// A series sampled once a minute from time 0, labelled with its service.
pub fn series_per_minute(name: &str, service: &str, values: &[f64]) -> crate::Series {
    crate::Series {
        name: name.into(),
        labels: vec![crate::Label { name: "service".into(), value: service.into() }],
        timestamps_ms: (0..values.len() as i64).map(|i| i * 60_000).collect(),
        values: values.to_vec(),
    }
}

/// The cpu section of a host with `logical_cores` cores, each as busy as the
/// average, the same load over 1, 5 and 15 minutes, and no I/O wait, steal
/// or context switch figures.
pub fn cpu(logical_cores: u32, utilization_pct: f64, load1: f64) -> Cpu {
    Cpu {
        logical_cores,
        utilization_pct,
        per_core_pct: vec![utilization_pct; logical_cores as usize],
        load1,
        load5: load1,
        load15: load1,
        iowait_pct: None,
        steal_pct: None,
        context_switches_per_sec: None,
    }
}

/// A process with neither thread nor open-file counts.
pub fn process(pid: u32, name: &str, cpu_pct: f64, rss_bytes: u64) -> Process {
    Process { pid, name: name.into(), cpu_pct, rss_bytes, threads: None, open_files: None }
}

/// A latency summary where every percentile, the maximum and the mean are `ms`.
pub fn uniform_latency(ms: f64) -> Latency {
    Latency { p50_ms: ms, p90_ms: ms, p95_ms: ms, p99_ms: ms, p999_ms: ms, max_ms: ms, mean_ms: ms }
}

/// Cumulative buckets from `(le_ms, count)` pairs.
pub fn buckets(pairs: &[(f64, u64)]) -> Vec<Bucket> {
    pairs.iter().map(|(le_ms, count)| Bucket { le_ms: *le_ms, count: *count }).collect()
}

/// A route of service `web` with `requests` in a one-minute window, one
/// request a second, no errors, no upstream latency and no buckets.
pub fn endpoint(route: &str, requests: u64, latency: Latency) -> Endpoint {
    Endpoint {
        service: "web".into(),
        route: route.into(),
        requests,
        errors: 0,
        client_errors: 0,
        throughput_rps: 1.0,
        latency,
        upstream_latency: None,
        buckets: vec![],
        window_ms: 60_000,
    }
}

/// A statement class with `calls` calls of `mean_ms` each, no row counts and
/// no plan hints. Its fingerprint differs for texts of different lengths or
/// call counts.
pub fn query(engine: &str, database: &str, text: &str, calls: u64, mean_ms: f64) -> Query {
    Query {
        database: database.into(),
        engine: engine.into(),
        fingerprint: format!("{:x}", text.len() * 7919 + calls as usize),
        text: text.into(),
        calls,
        total_ms: calls as f64 * mean_ms,
        mean_ms,
        p95_ms: None,
        rows_examined: None,
        rows_returned: None,
        plan_hints: vec![],
    }
}

/// A table of `rows_estimate` rows never scanned, vacuumed or measured.
pub fn table(name: &str, rows_estimate: u64) -> TableStat {
    TableStat {
        name: name.into(),
        rows_estimate,
        size_bytes: None,
        seq_scans: 0,
        seq_rows_read: 0,
        index_scans: None,
        dead_rows: None,
        last_vacuum_ms: None,
    }
}
