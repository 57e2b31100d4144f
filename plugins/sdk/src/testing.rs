//! Run a rule natively, the way the host would: defaults resolved from
//! `describe()`, configuration overlaid, sections it did not declare removed.
//! For unit tests and native benchmarks of rule logic.

use crate::{Config, ConfigEntry, Finding, Rule, Section, Snapshot};

/// Parse a snapshot from the JSON that `perfsage snapshot` writes. Behind the
/// `json` feature so that Wasm builds of plugins do not carry serde_json.
#[cfg(feature = "json")]
pub fn snapshot_from_json(json: &str) -> Result<Snapshot, String> {
    serde_json::from_str(json).map_err(|e| format!("not a perfsage snapshot: {e}"))
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
