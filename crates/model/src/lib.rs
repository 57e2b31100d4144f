//! The normalized model, generated from `wit/rule.wit`.
//!
//! `wasmtime::component::bindgen!` turns the contract into Rust types that can
//! cross the sandbox wall; `additional_derives` adds serde so the same types are
//! the snapshot file format and the report's raw material. There is no second,
//! hand-kept copy of the model anywhere in the host.

mod generated {
    wasmtime::component::bindgen!({
        path: "../../wit",
        world: "plugin",
        additional_derives: [serde::Serialize, serde::Deserialize, Clone, PartialEq],
        // The host's `log` may trap a plugin that floods it (plugins::sandbox).
        imports: { default: trappable },
    });
}

pub use generated::exports::perfsage::rule::rule::{
    Action, Bucket, Category, ConfigEntry, Cpu, Database, DbTransaction, Disk, Endpoint, Evidence, Finding, HookParam,
    Label, Latency, Level, Memory, Meta, NamedValue, NetInterface, Network, ParamSpec, ParamValue, Process, Query,
    RuleInfo, Section, Series, Severity, Snapshot, TableStat,
};
/// What the engine links a component against: the world and the host's import.
/// Only `perfsage-engine` uses these; everything else sees plain data.
pub mod world {
    pub use super::generated::perfsage::rule::host::Host as PluginHost;
    pub use super::generated::{Plugin, PluginPre};
}

/// The contract version the host was generated from, and the names both sides
/// agree on beside the WIT (series, labels, engines, plan hints).
pub use perfsage_contract::{self as contract, CONTRACT_VERSION};

/// The snapshot layout version written into `meta.schema_version`.
pub const SCHEMA_VERSION: u32 = perfsage_contract::meta::SCHEMA_VERSION;

impl Snapshot {
    /// An empty snapshot: only `meta`, every section absent.
    pub fn empty(meta: Meta) -> Self {
        Snapshot {
            meta,
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
}

impl Severity {
    /// Every severity, lowest first.
    pub const ALL: [Severity; 5] =
        [Severity::Info, Severity::Low, Severity::Medium, Severity::High, Severity::Critical];

    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }

    /// Position in [`Severity::ALL`]: a total order, lowest first.
    pub fn rank(self) -> u8 {
        self as u8
    }

    /// Whether this severity is at or above `threshold` (what `--fail-on` asks).
    pub fn at_least(self, threshold: Severity) -> bool {
        self.rank() >= threshold.rank()
    }

    /// The severity named by [`Severity::as_str`].
    pub fn from_name(name: &str) -> Option<Severity> {
        Severity::ALL.into_iter().find(|s| s.as_str() == name)
    }
}

impl Category {
    pub fn as_str(self) -> &'static str {
        match self {
            Category::Hardware => "hardware",
            Category::Software => "software",
            Category::Network => "network",
        }
    }
}

impl Level {
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Low => "low",
            Level::Medium => "medium",
            Level::High => "high",
        }
    }
}

impl Section {
    pub fn as_str(self) -> &'static str {
        match self {
            Section::Cpu => "cpu",
            Section::Memory => "memory",
            Section::Disks => "disks",
            Section::Network => "network",
            Section::Processes => "processes",
            Section::Endpoints => "endpoints",
            Section::Queries => "queries",
            Section::Databases => "databases",
            Section::Series => "series",
        }
    }
}

impl Snapshot {
    /// Whether the snapshot carries a section.
    pub fn has(&self, section: Section) -> bool {
        match section {
            Section::Cpu => self.cpu.is_some(),
            Section::Memory => self.memory.is_some(),
            Section::Disks => self.disks.is_some(),
            Section::Network => self.network.is_some(),
            Section::Processes => self.processes.is_some(),
            Section::Endpoints => self.endpoints.is_some(),
            Section::Queries => self.queries.is_some(),
            Section::Databases => self.databases.is_some(),
            Section::Series => self.series.is_some(),
        }
    }

    /// A copy holding `meta` and only the given sections: a plugin sees what
    /// it declared and nothing more (and less crosses the sandbox wall).
    pub fn only(&self, sections: &[Section]) -> Snapshot {
        let keep = |s: Section| sections.contains(&s);
        Snapshot {
            meta: self.meta.clone(),
            cpu: self.cpu.as_ref().filter(|_| keep(Section::Cpu)).cloned(),
            memory: self.memory.as_ref().filter(|_| keep(Section::Memory)).cloned(),
            disks: self.disks.as_ref().filter(|_| keep(Section::Disks)).cloned(),
            network: self.network.as_ref().filter(|_| keep(Section::Network)).cloned(),
            processes: self.processes.as_ref().filter(|_| keep(Section::Processes)).cloned(),
            endpoints: self.endpoints.as_ref().filter(|_| keep(Section::Endpoints)).cloned(),
            queries: self.queries.as_ref().filter(|_| keep(Section::Queries)).cloned(),
            databases: self.databases.as_ref().filter(|_| keep(Section::Databases)).cloned(),
            series: self.series.as_ref().filter(|_| keep(Section::Series)).cloned(),
        }
    }
}
