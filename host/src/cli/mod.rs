//! The command line: argument parsing, the flow of each command, exit codes,
//! and friendly errors with their cause chain. The only module that prints.

mod commands;
mod logs;
mod probe;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::model::Severity;
use crate::reports::Format;

const AFTER_HELP: &str = "\
Exit codes:
  0  ran; nothing at or above --fail-on
  1  ran; findings at or above --fail-on
  2  usage or configuration error
  3  ran, but a source or plugin failed (outranks 1: an incomplete check certifies nothing)

Examples:
  perfsage run                              audit this machine with the built-in rules
  perfsage run --format json --fail-on high
  perfsage snapshot -o web1.json            save what was collected ...
  perfsage check web1.json                  ... and check it anywhere, any number of times
  perfsage plugin list --params             every rule and its parameters
  perfsage probe http://127.0.0.1/api/contacts -c 64 -d 10s
  perfsage logs /var/log/nginx/access.log   where the server's time goes, route by route
  perfsage run --probe http://127.0.0.1/ --access-log /var/log/nginx/access.log";

#[derive(Debug, Parser)]
#[command(
    name = "perfsage",
    version,
    about = "Find why a web platform is slow and what to do about it.",
    long_about = "perfsage collects this machine's metrics into one snapshot, runs sandboxed \
WebAssembly rule plugins over it (each checks one class of bottleneck), and prints the \
optimization actions they propose, ranked by expected benefit over cost.",
    after_help = AFTER_HELP
)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,

    /// Log what perfsage does to stderr (-v: info, -vv: debug).
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    verbose: u8,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Collect this machine, check it with the rules, and print ranked actions.
    Run(RunArgs),
    /// Collect this machine and save the snapshot as JSON (check it later with `check`).
    Snapshot(SnapshotArgs),
    /// Check a saved snapshot.
    Check(CheckArgs),
    /// Inspect rule plugins.
    #[command(subcommand)]
    Plugin(PluginCommand),
    /// Load URLs with HTTP requests and print latency percentiles, throughput and errors.
    Probe(ProbeArgs),
    /// Read access logs and print requests, errors and latency per route, by total time spent.
    Logs(LogsArgs),
}

/// Output of the measuring commands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum DataFormat {
    Table,
    Json,
}

#[derive(Debug, Args)]
struct ProbeArgs {
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
    /// Worker threads [default: one per core].
    #[arg(long)]
    threads: Option<usize>,
    #[arg(long, value_enum, default_value_t = DataFormat::Table)]
    format: DataFormat,
}

#[derive(Debug, Args)]
struct LogsArgs {
    /// Access logs (plain or gzip): combined with request times, a `log_format` from --config, or JSON lines.
    #[arg(value_name = "FILE", required = true)]
    files: Vec<PathBuf>,
    /// Rule pack whose [access_log] settings (format, service, route patterns) apply.
    #[arg(long, short = 'c', value_name = "FILE")]
    config: Option<PathBuf>,
    /// How many routes the table shows.
    #[arg(long, default_value_t = 20)]
    top: usize,
    #[arg(long, value_enum, default_value_t = DataFormat::Table)]
    format: DataFormat,
}

#[derive(Debug, Subcommand)]
enum PluginCommand {
    /// List the plugins that would run: name, version, category, origin, contract.
    List(PluginListArgs),
}

#[derive(Debug, Args)]
struct RunArgs {
    #[command(flatten)]
    collect: CollectArgs,
    #[command(flatten)]
    plugins: PluginArgs,
    #[command(flatten)]
    output: OutputArgs,
}

#[derive(Debug, Args)]
struct SnapshotArgs {
    /// Where to write the snapshot; `-` for standard output.
    #[arg(short, long, value_name = "FILE")]
    output: PathBuf,
    #[command(flatten)]
    collect: CollectArgs,
    /// Rule pack whose [collect] settings apply.
    #[arg(long, short = 'c', value_name = "FILE")]
    config: Option<PathBuf>,
}

#[derive(Debug, Args)]
struct CheckArgs {
    /// A snapshot written by `perfsage snapshot`.
    #[arg(value_name = "FILE")]
    snapshot: PathBuf,
    #[command(flatten)]
    plugins: PluginArgs,
    #[command(flatten)]
    output: OutputArgs,
}

#[derive(Debug, Args)]
struct PluginListArgs {
    #[command(flatten)]
    plugins: PluginArgs,
    /// Also list each plugin's parameters with defaults, units and ranges.
    #[arg(long)]
    params: bool,
}

#[derive(Debug, Args)]
struct CollectArgs {
    /// Sampling window for rates (CPU, disk, network), e.g. `1s`, `500ms`
    /// [default: the rule pack's collect.window_ms, 1s].
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    window: Option<Duration>,
    /// Also probe this URL (after sampling the system) into the snapshot's endpoints; repeatable.
    #[arg(long = "probe", value_name = "URL")]
    probe: Vec<String>,
    /// How long each --probe URL is loaded.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, default_value = "5s")]
    probe_duration: Duration,
    /// Connections each --probe URL is loaded with.
    #[arg(long, value_name = "COUNT", default_value_t = 16)]
    probe_connections: usize,
    /// Also read this access log into the snapshot's endpoints and series; repeatable.
    #[arg(long = "access-log", value_name = "FILE")]
    access_log: Vec<PathBuf>,
}

#[derive(Debug, Args)]
struct PluginArgs {
    /// Also load this plugin (a Wasm component); repeatable.
    #[arg(long = "plugin", value_name = "PATH")]
    plugin: Vec<PathBuf>,
    /// Also load every `*.wasm` in this directory.
    #[arg(long, value_name = "DIR")]
    plugins_dir: Option<PathBuf>,
    /// Do not load the built-in plugins (to try your own alone).
    #[arg(long)]
    no_builtin: bool,
    /// Rule pack (TOML): enabled plugins, parameters, severity overrides, limits
    /// [default: the built-in rules/default.toml].
    #[arg(long, short = 'c', value_name = "FILE")]
    config: Option<PathBuf>,
    /// Where compiled plugins are cached [default: $XDG_CACHE_HOME/perfsage].
    #[arg(long, value_name = "DIR", env = "PERFSAGE_CACHE_DIR")]
    cache_dir: Option<PathBuf>,
    /// Compile plugins afresh and cache nothing.
    #[arg(long)]
    no_cache: bool,
}

#[derive(Debug, Args)]
struct OutputArgs {
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
    /// Exit 1 when a finding is at or above this severity.
    #[arg(long, value_enum, value_name = "SEVERITY")]
    fail_on: Option<SeverityArg>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum SeverityArg {
    Info,
    Low,
    Medium,
    High,
    Critical,
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

fn parse_duration(text: &str) -> Result<Duration, String> {
    humantime::parse_duration(text).map_err(|e| format!("{e} (examples: 1s, 500ms, 2m)"))
}

/// The process exit codes (see `--help`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    Clean = 0,
    FindingsAtThreshold = 1,
    Usage = 2,
    Degraded = 3,
}

/// An error that ends the command, with the exit code it maps to.
#[derive(Debug)]
pub struct Failure {
    pub exit: Exit,
    pub error: anyhow::Error,
}

impl Failure {
    fn usage(error: impl Into<anyhow::Error>) -> Self {
        Failure { exit: Exit::Usage, error: error.into() }
    }

    fn degraded(error: impl Into<anyhow::Error>) -> Self {
        Failure { exit: Exit::Degraded, error: error.into() }
    }
}

/// Parse the command line, run the command, and map the outcome to an exit code.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let level = match cli.verbose {
        0 => log::LevelFilter::Warn,
        1 => log::LevelFilter::Info,
        _ => log::LevelFilter::Debug,
    };
    env_logger::Builder::new().filter_level(level).format_timestamp(None).init();

    let outcome = match cli.command {
        Command::Run(args) => commands::run(args),
        Command::Snapshot(args) => commands::snapshot(args),
        Command::Check(args) => commands::check(args),
        Command::Plugin(PluginCommand::List(args)) => commands::plugin_list(args),
        Command::Probe(args) => probe::run(args),
        Command::Logs(args) => logs::run(args),
    };
    match outcome {
        Ok(exit) => ExitCode::from(exit as u8),
        Err(failure) => {
            eprintln!("perfsage: error: {}", failure.error);
            for cause in failure.error.chain().skip(1) {
                eprintln!("  caused by: {cause}");
            }
            ExitCode::from(failure.exit as u8)
        }
    }
}
