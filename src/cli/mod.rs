//! The command line: argument parsing, the flow of each command, exit codes,
//! and friendly errors with their cause chain. The only module that prints.

mod actions;
mod audit;
mod commands;
mod digest;
mod fleet;
mod logs;
mod plugin_new;
mod plugin_pin;
mod plugin_test;
mod probe;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

use perfsage_model::Severity;
use perfsage_reports::Format;

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
  perfsage plan                             what each action would run, with the hooks' dry runs
  perfsage apply --action memory.lower-swappiness --yes
  perfsage journal                          what apply did, when, and how it ended
  perfsage run --postgres postgresql://perfsage@127.0.0.1/shop   also read a database server
  perfsage digest /var/log/mysql/slow.log --format json           slow queries by class
  perfsage run --mysql mysql://root@127.0.0.1/crm --slow-log /var/log/mysql/slow.log

  perfsage probe http://127.0.0.1/api/contacts -c 64 -d 10s
  perfsage logs /var/log/nginx/access.log   where the server's time goes, route by route
  perfsage run --probe http://127.0.0.1/ --access-log /var/log/nginx/access.log

Prometheus:
  perfsage run --scrape http://127.0.0.1:8080/metrics     endpoints from the app's histograms
  perfsage run --scrape-host http://db1:9100/metrics      audit another host through its node_exporter
  perfsage fleet --prometheus http://prometheus:9090 --selector 'job=\"node\"' --window 15m
                                            every instance Prometheus knows, bottlenecks ranked

apply exits 2 when it has no consent (no --yes, not on a terminal) or another apply holds
the lock, and 3 when a hook or its verification failed or SIGINT/SIGTERM interrupted it
(the signal is forwarded to the running hook's process group first).

Audits:
  perfsage audit --fail-on high --fail-on-new --html report.html
                                            check, store in the history, diff with the last audit
  perfsage audit --every 15m --keep 30d --prometheus /var/lib/node_exporter/perfsage.prom
  perfsage history                          past audits with their findings by severity
  perfsage report 12 --format html          any past audit, in any format";

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
    /// Inspect, write, test and pin rule plugins.
    #[command(subcommand)]
    Plugin(PluginCommand),
    /// Show what each ranked action would run (hook, argv, environment) and the
    /// hook's own dry run. Changes nothing.
    Plan(PlanArgs),
    /// Run the hooks of selected actions (with consent), journal them, verify
    /// that the finding cleared, and roll back when it did not.
    Apply(ApplyArgs),
    /// Show the journal of applied actions.
    Journal(JournalArgs),
    /// Collect, check, store in the history, diff with the previous audit, export;
    /// once, or as a service with --every.
    Audit(audit::AuditArgs),
    /// List past audits with their findings by severity.
    History(audit::HistoryArgs),
    /// Show a past audit in any format.
    Report(audit::ReportArgs),
    /// Load URLs with HTTP requests and print latency percentiles, throughput and errors.
    Probe(ProbeArgs),
    /// Read access logs and print requests, errors and latency per route, by total time spent.
    Logs(LogsArgs),
    /// Group a MySQL/MariaDB or PostgreSQL slow query log by statement class: count, total,
    /// mean and p95 time, rows examined and sent.
    Digest(DigestArgs),
    /// Audit every instance a Prometheus server knows: one snapshot per instance from PromQL,
    /// checked by the rules, bottlenecks ranked across the fleet.
    #[command(after_help = FLEET_HELP)]
    Fleet(fleet::FleetArgs),
}

const FLEET_HELP: &str = "\
The queries (one per snapshot field, each aggregated by instance on the server) are the rule
pack's [prometheus.fleet] section; `perfsage fleet` sends the same few dozen whatever the
fleet's size. An instance with host data but a missing section, or a query that fails, is
reported and the rest go on (exit 3).

Examples:
  perfsage fleet --prometheus http://127.0.0.1:9090
  perfsage fleet --prometheus http://prometheus:9090 --selector 'job=\"node\",env=\"prod\"' --window 15m
  perfsage fleet --prometheus http://prometheus:9090 --at 2025-05-01T12:00:00Z --format markdown
  perfsage fleet --prometheus http://prometheus:9090 --fail-on high --format json > fleet.json
  perfsage fleet --prometheus http://prometheus:9090 --save-snapshots snaps/ && perfsage check snaps/web1_9100.json";

/// Output of the measuring commands.
/// `--format` of the commands that print a check's report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum ReportFormat {
    Table,
    Json,
    Markdown,
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
    /// Threads, each running its share of the connections [default: one per core].
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
    /// Distinct routes kept (the first ones seen); the requests of the others are counted in
    /// one `(other)` route. Overrides [access_log] max_routes (default 10000).
    #[arg(long, value_name = "N")]
    max_routes: Option<usize>,
    #[arg(long, value_enum, default_value_t = DataFormat::Table)]
    format: DataFormat,
}

#[derive(Debug, Subcommand)]
enum PluginCommand {
    /// List the plugins that would run: name, version, category, origin, contract.
    List(PluginListArgs),
    /// Scaffold a rule plugin crate: one example rule, a fixture, test cases.
    New(plugin_new::PluginNewArgs),
    /// Run a plugin's test cases (snapshot in, expected findings out); exit 1 on any failing case.
    Test(plugin_test::PluginTestArgs),
    /// Pin the external plugins (--plugin, --plugins-dir) by SHA-256 in the lock file beside the rule pack.
    Pin(PluginArgs),
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
    /// Also list the rule pack's hook bindings with the parameters each accepts
    /// (types, ranges, allowlists): what any plugin may pass to them.
    #[arg(long)]
    hooks: bool,
}

/// What `plan` and `apply` work from: this machine (like `run`) or a saved snapshot (like `check`).
#[derive(Debug, Args)]
struct ActionInputArgs {
    /// Plan from a saved snapshot instead of collecting this machine. `apply`
    /// then cannot verify honestly and reports verification as skipped.
    #[arg(long, value_name = "FILE")]
    snapshot: Option<PathBuf>,
    #[command(flatten)]
    collect: CollectArgs,
    #[command(flatten)]
    plugins: PluginArgs,
    #[command(flatten)]
    state: StateArgs,
}

#[derive(Debug, Args)]
struct StateArgs {
    /// Where the journal, the apply lock and the hooks' saved state live
    /// [default: $XDG_STATE_HOME/perfsage].
    #[arg(long, value_name = "DIR")]
    state_dir: Option<PathBuf>,
}

#[derive(Debug, Args)]
struct PlanArgs {
    #[command(flatten)]
    input: ActionInputArgs,
    #[arg(long, value_enum, default_value_t = ActionFormat::Text)]
    format: ActionFormat,
}

#[derive(Debug, Args)]
struct ApplyArgs {
    #[command(flatten)]
    input: ActionInputArgs,
    /// Apply the action with this id (as `plan` lists it) on every target it
    /// was proposed for; repeatable.
    #[arg(long = "action", value_name = "ID", required_unless_present = "top", conflicts_with = "top")]
    actions: Vec<String>,
    /// Apply the N best-ranked actions that have a hook.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    top: Option<u32>,
    /// Consent without a prompt (needed when not on a terminal).
    #[arg(long, short = 'y')]
    yes: bool,
    /// Go on with the next action after one fails (default: stop).
    #[arg(long)]
    keep_going: bool,
    #[arg(long, value_enum, default_value_t = ActionFormat::Text)]
    format: ActionFormat,
}

#[derive(Debug, Args)]
struct JournalArgs {
    #[command(flatten)]
    state: StateArgs,
    #[arg(long, value_enum, default_value_t = ActionFormat::Text)]
    format: ActionFormat,
}

#[derive(Debug, Args)]
struct DigestArgs {
    /// A MySQL/MariaDB slow query log (`slow_query_log_file`) or a PostgreSQL
    /// log written with `log_min_duration_statement`; the kind is detected.
    #[arg(value_name = "FILE")]
    file: PathBuf,
    /// Rule pack whose [slow_log] settings (max_classes, max_statement_bytes) apply.
    #[arg(long, short = 'c', value_name = "FILE")]
    config: Option<PathBuf>,
    /// Statement classes kept (the first ones seen); the entries of the others are counted in
    /// one `(other)` class. Overrides [slow_log] max_classes (default 10000).
    #[arg(long, value_name = "N")]
    max_classes: Option<usize>,
    #[arg(long, value_enum, default_value_t = ActionFormat::Text)]
    format: ActionFormat,
}

/// Output of `plan`, `apply`, `journal` and `digest`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum ActionFormat {
    Text,
    Json,
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
    /// Also read this PostgreSQL server's statistics, e.g.
    /// `postgresql://perfsage@127.0.0.1:5432/shop`; repeatable (adds to the rule pack's [sources]).
    #[arg(long, value_name = "URL")]
    postgres: Vec<String>,
    /// Also read this MySQL or MariaDB server's statistics, e.g.
    /// `mysql://perfsage@127.0.0.1:3306/shop`; repeatable (adds to the rule pack's [sources]).
    #[arg(long, value_name = "URL")]
    mysql: Vec<String>,
    /// The most each database source may take, connect to goodbye, e.g. `10s`
    /// [default: the rule pack's sources.timeout_ms, 30s].
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    source_timeout: Option<Duration>,
    /// Also digest this slow query log (MySQL/MariaDB, or PostgreSQL's
    /// log_min_duration_statement) into the snapshot's queries; repeatable.
    #[arg(long = "slow-log", value_name = "FILE")]
    slow_log: Vec<PathBuf>,
    /// Also read this Prometheus exposition (an http:// /metrics URL, file:// or a path)
    /// twice, a window apart: its request-duration histograms and request counters
    /// ([prometheus.endpoints]) become endpoints; repeatable. Its node_ metrics are not
    /// used: see --scrape-host.
    #[arg(long = "scrape", value_name = "URL")]
    scrape: Vec<String>,
    /// Audit the host behind this node_exporter (http:// URL, file:// or a path) instead of
    /// this machine: cpu, memory, disks and network come from its exposition
    /// ([prometheus.node]), the local collector does not run, and there is no processes section.
    #[arg(long, value_name = "URL")]
    scrape_host: Option<String>,
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
    /// Lock file pinning external plugins by SHA-256 (`perfsage plugin pin`)
    /// [default: perfsage.lock beside --config; none with the built-in pack].
    #[arg(long, value_name = "FILE")]
    lock: Option<PathBuf>,
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
    #[arg(long, value_enum, default_value_t = ReportFormat::Table)]
    format: ReportFormat,
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
        Command::Plan(args) => actions::plan(args),
        Command::Apply(args) => actions::apply(args),
        Command::Journal(args) => actions::journal(args),
        Command::Audit(args) => audit::audit(args),
        Command::History(args) => audit::history(args),
        Command::Report(args) => audit::report(args),
        Command::Plugin(PluginCommand::New(args)) => plugin_new::plugin_new(args),
        Command::Plugin(PluginCommand::Test(args)) => plugin_test::plugin_test(args),
        Command::Plugin(PluginCommand::Pin(args)) => plugin_pin::plugin_pin(args),
        Command::Probe(args) => probe::run(args),
        Command::Logs(args) => logs::run(args),
        Command::Digest(args) => digest::run(args),
        Command::Fleet(args) => fleet::run(args),
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
