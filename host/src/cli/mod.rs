//! The command line: argument parsing, the flow of each command, exit codes,
//! and friendly errors with their cause chain. The only module that prints.

mod actions;
mod commands;
mod digest;

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
  perfsage plan                             what each action would run, with the hooks' dry runs
  perfsage apply --action memory.lower-swappiness --yes
  perfsage journal                          what apply did, when, and how it ended
  perfsage run --postgres postgresql://perfsage@127.0.0.1/shop   also read a database server
  perfsage digest /var/log/mysql/slow.log --format json           slow queries by class

apply exits 2 when it has no consent (no --yes, not on a terminal) and 3 when a hook
or its verification failed.";

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
    /// Show what each ranked action would run (hook, argv, environment) and the
    /// hook's own dry run. Changes nothing.
    Plan(PlanArgs),
    /// Run the hooks of selected actions (with consent), journal them, verify
    /// that the finding cleared, and roll back when it did not.
    Apply(ApplyArgs),
    /// Show the journal of applied actions.
    Journal(JournalArgs),
    /// Group a MySQL/MariaDB slow query log by statement class: count, total,
    /// mean and p95 time, rows examined and sent.
    Digest(DigestArgs),
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
    /// A slow query log (`slow_query_log_file`).
    #[arg(value_name = "FILE")]
    file: PathBuf,
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
    /// Also read this PostgreSQL server's statistics, e.g.
    /// `postgresql://perfsage@127.0.0.1:5432/shop`; repeatable (adds to the rule pack's [sources]).
    #[arg(long, value_name = "URL")]
    postgres: Vec<String>,
    /// Also read this MySQL or MariaDB server's statistics, e.g.
    /// `mysql://perfsage@127.0.0.1:3306/shop`; repeatable (adds to the rule pack's [sources]).
    #[arg(long, value_name = "URL")]
    mysql: Vec<String>,
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
        Command::Plan(args) => actions::plan(args),
        Command::Apply(args) => actions::apply(args),
        Command::Journal(args) => actions::journal(args),
        Command::Digest(args) => digest::run(args),
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
