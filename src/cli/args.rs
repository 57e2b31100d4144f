//! What several commands share on their command lines: the sources to
//! collect, the plugins to load, the report to print, and the formats.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, ValueEnum};

use perfsage_model::Severity;
use perfsage_reports::Format;

/// Output of the measuring commands.
/// `--format` of the commands that print a check's report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(super) enum ReportFormat {
    Table,
    Json,
    Markdown,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(super) enum DataFormat {
    Table,
    Json,
}

/// Output of `plan`, `apply`, `journal` and `digest`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(super) enum ActionFormat {
    Text,
    Json,
}

#[derive(Debug, Args)]
pub(super) struct CollectArgs {
    /// Sampling window for rates (CPU, disk, network), e.g. `1s`, `500ms`
    /// [default: the rule pack's collect.window_ms, 1s].
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub(super) window: Option<Duration>,
    /// Also probe this URL (after sampling the system) into the snapshot's endpoints; repeatable.
    #[arg(long = "probe", value_name = "URL")]
    pub(super) probe: Vec<String>,
    /// How long each --probe URL is loaded.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, default_value = "5s")]
    pub(super) probe_duration: Duration,
    /// Connections each --probe URL is loaded with.
    #[arg(long, value_name = "COUNT", default_value_t = 16)]
    pub(super) probe_connections: usize,
    /// Also read this access log into the snapshot's endpoints and series; repeatable.
    #[arg(long = "access-log", value_name = "FILE")]
    pub(super) access_log: Vec<PathBuf>,
    /// Also read this PostgreSQL server's statistics, e.g.
    /// `postgresql://perfsage@127.0.0.1:5432/shop`; repeatable (adds to the rule pack's [sources]).
    #[arg(long, value_name = "URL")]
    pub(super) postgres: Vec<String>,
    /// Also read this MySQL or MariaDB server's statistics, e.g.
    /// `mysql://perfsage@127.0.0.1:3306/shop`; repeatable (adds to the rule pack's [sources]).
    #[arg(long, value_name = "URL")]
    pub(super) mysql: Vec<String>,
    /// The most each database source may take, connect to goodbye, e.g. `10s`
    /// [default: the rule pack's sources.timeout_ms, 30s].
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub(super) source_timeout: Option<Duration>,
    /// Also digest this slow query log (MySQL/MariaDB, or PostgreSQL's
    /// log_min_duration_statement) into the snapshot's queries; repeatable.
    #[arg(long = "slow-log", value_name = "FILE")]
    pub(super) slow_log: Vec<PathBuf>,
    /// Also read this Prometheus exposition (an http:// /metrics URL, file:// or a path)
    /// twice, a window apart: its request-duration histograms and request counters
    /// ([prometheus.endpoints]) become endpoints; repeatable. Its node_ metrics are not
    /// used: see --scrape-host.
    #[arg(long = "scrape", value_name = "URL")]
    pub(super) scrape: Vec<String>,
    /// Audit the host behind this node_exporter (http:// URL, file:// or a path) instead of
    /// this machine: cpu, memory, disks and network come from its exposition
    /// ([prometheus.node]), the local collector does not run, and there is no processes section.
    #[arg(long, value_name = "URL")]
    pub(super) scrape_host: Option<String>,
}

#[derive(Debug, Args)]
pub(super) struct PluginArgs {
    /// Also load this plugin (a Wasm component); repeatable.
    #[arg(long = "plugin", value_name = "PATH")]
    pub(super) plugin: Vec<PathBuf>,
    /// Also load every `*.wasm` in this directory.
    #[arg(long, value_name = "DIR")]
    pub(super) plugins_dir: Option<PathBuf>,
    /// Do not load the built-in plugins (to try your own alone).
    #[arg(long)]
    pub(super) no_builtin: bool,
    /// Rule pack (TOML): enabled plugins, parameters, severity overrides, limits
    /// [default: the built-in rules/default.toml].
    #[arg(long, short = 'c', value_name = "FILE")]
    pub(super) config: Option<PathBuf>,
    /// Lock file pinning external plugins by SHA-256 (`perfsage plugin pin`)
    /// [default: perfsage.lock beside --config; none with the built-in pack].
    #[arg(long, value_name = "FILE")]
    pub(super) lock: Option<PathBuf>,
    /// Where compiled plugins are cached [default: $XDG_CACHE_HOME/perfsage].
    #[arg(long, value_name = "DIR", env = "PERFSAGE_CACHE_DIR")]
    pub(super) cache_dir: Option<PathBuf>,
    /// Compile plugins afresh and cache nothing.
    #[arg(long)]
    pub(super) no_cache: bool,
}

#[derive(Debug, Args)]
pub(super) struct OutputArgs {
    /// Output format.
    #[arg(long, value_enum, default_value_t = ReportFormat::Table)]
    pub(super) format: ReportFormat,
    /// Exit 1 when a finding is at or above this severity.
    #[arg(long, value_enum, value_name = "SEVERITY")]
    pub(super) fail_on: Option<SeverityArg>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(super) enum SeverityArg {
    Info,
    Low,
    Medium,
    High,
    Critical,
}

impl From<ReportFormat> for Format {
    fn from(format: ReportFormat) -> Self {
        match format {
            ReportFormat::Table => Format::Table,
            ReportFormat::Json => Format::Json,
            ReportFormat::Markdown => Format::Markdown,
        }
    }
}

impl From<SeverityArg> for Severity {
    fn from(s: SeverityArg) -> Self {
        match s {
            SeverityArg::Info => Severity::Info,
            SeverityArg::Low => Severity::Low,
            SeverityArg::Medium => Severity::Medium,
            SeverityArg::High => Severity::High,
            SeverityArg::Critical => Severity::Critical,
        }
    }
}

pub(super) fn parse_duration(text: &str) -> Result<Duration, String> {
    humantime::parse_duration(text).map_err(|e| format!("{e} (examples: 1s, 500ms, 2m)"))
}
