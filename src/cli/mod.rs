//! The command line: argument parsing, the flow of each command, exit codes,
//! and friendly errors with their cause chain. The only module that prints.

mod actions;
mod args;
mod audit;
mod commands;
mod digest;
mod exit;
mod fleet;
mod logs;
mod plugin_new;
mod plugin_pin;
mod plugin_test;
mod probe;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

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
    Run(commands::RunArgs),
    /// Collect this machine and save the snapshot as JSON (check it later with `check`).
    Snapshot(commands::SnapshotArgs),
    /// Check a saved snapshot.
    Check(commands::CheckArgs),
    /// Inspect, write, test and pin rule plugins.
    #[command(subcommand)]
    Plugin(PluginCommand),
    /// Show what each ranked action would run (hook, argv, environment) and the
    /// hook's own dry run. Changes nothing.
    Plan(actions::PlanArgs),
    /// Run the hooks of selected actions (with consent), journal them, verify
    /// that the finding cleared, and roll back when it did not.
    Apply(actions::ApplyArgs),
    /// Show the journal of applied actions.
    Journal(actions::JournalArgs),
    /// Collect, check, store in the history, diff with the previous audit, export;
    /// once, or as a service with --every.
    Audit(audit::AuditArgs),
    /// List past audits with their findings by severity.
    History(audit::HistoryArgs),
    /// Show a past audit in any format.
    Report(audit::ReportArgs),
    /// Load URLs with HTTP requests and print latency percentiles, throughput and errors.
    Probe(probe::ProbeArgs),
    /// Read access logs and print requests, errors and latency per route, by total time spent.
    Logs(logs::LogsArgs),
    /// Group a MySQL/MariaDB or PostgreSQL slow query log by statement class: count, total,
    /// mean and p95 time, rows examined and sent.
    Digest(digest::DigestArgs),
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

#[derive(Debug, Subcommand)]
enum PluginCommand {
    /// List the plugins that would run: name, version, category, origin, contract.
    List(commands::PluginListArgs),
    /// Scaffold a rule plugin crate: one example rule, a fixture, test cases.
    New(plugin_new::PluginNewArgs),
    /// Run a plugin's test cases (snapshot in, expected findings out); exit 1 on any failing case.
    Test(plugin_test::PluginTestArgs),
    /// Pin the external plugins (--plugin, --plugins-dir) by SHA-256 in the lock file beside the rule pack.
    Pin(args::PluginArgs),
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
