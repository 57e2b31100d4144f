//! `perfsage audit`, `history` and `report`: the command-line edge of
//! [`perfsage_audits`]. Argument handling, printing and exit codes live here;
//! the audit flow, the history and the exports live in the library.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::anyhow;
use clap::{Args, ValueEnum};

use super::args::{CollectArgs, PluginArgs, SeverityArg, parse_duration};
use super::commands::{collect_options, load_engine, write_stdout};
use super::exit::{Exit, Failure};
use crate::pack::RulePack;
use perfsage_audits::history::{AuditSummary, History, Status};
use perfsage_audits::service::{self, Ended, Schedule};
use perfsage_audits::{self as audits, AuditLock, AuditOutcome, AuditView, Exports, SnapshotOrigin};
use perfsage_model::Severity;
use perfsage_reports::{Format, terminal_safe};

#[derive(Debug, Args)]
pub struct AuditArgs {
    /// Replay this saved snapshot instead of collecting (tests, or snapshots taken elsewhere).
    #[arg(long, value_name = "FILE")]
    snapshot: Option<PathBuf>,
    /// The name audits are stored and compared under [default: the snapshot's host name].
    #[arg(long, value_name = "NAME")]
    target: Option<String>,
    #[command(flatten)]
    state: StateArgs,
    #[command(flatten)]
    collect: CollectArgs,
    #[command(flatten)]
    plugins: PluginArgs,
    /// What to print (with --every, each audit prints one line to stderr instead).
    #[arg(long, value_enum, default_value_t = AuditFormat::Table)]
    format: AuditFormat,
    /// Exit 1 when a finding is at or above this severity (with --fail-on-new:
    /// a new finding at or above it).
    #[arg(long, value_enum, value_name = "SEVERITY")]
    fail_on: Option<SeverityArg>,
    /// Exit 1 only for findings the previous audit of the target did not have.
    #[arg(long)]
    fail_on_new: bool,
    /// Also write the audit as JSON to this file (atomically).
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
    /// Also write a self-contained HTML report with charts to this file.
    #[arg(long, value_name = "FILE")]
    html: Option<PathBuf>,
    /// Also write Prometheus text for node_exporter's textfile collector to this file.
    #[arg(long, value_name = "FILE")]
    prometheus: Option<PathBuf>,
    /// Keep running: audit every DURATION (e.g. 15m) until SIGTERM or SIGINT.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    every: Option<Duration>,
    /// With --every: delay each audit by a random extra time up to DURATION.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, requires = "every")]
    jitter: Option<Duration>,
    /// Delete audits older than DURATION (e.g. 30d) after each audit.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    keep: Option<Duration>,
}

#[derive(Debug, Args)]
pub struct HistoryArgs {
    #[command(flatten)]
    state: StateArgs,
    /// Only audits of this target.
    #[arg(long, value_name = "NAME")]
    target: Option<String>,
    /// How many audits, newest first.
    #[arg(long, default_value_t = 20)]
    limit: usize,
    /// Output format.
    #[arg(long, value_enum, default_value_t = HistoryFormat::Table)]
    format: HistoryFormat,
}

#[derive(Debug, Args)]
pub struct ReportArgs {
    /// The audit's id (see `perfsage history`).
    #[arg(value_name = "AUDIT_ID")]
    id: i64,
    #[command(flatten)]
    state: StateArgs,
    /// Output format.
    #[arg(long, value_enum, default_value_t = AuditFormat::Table)]
    format: AuditFormat,
}

#[derive(Debug, Args)]
struct StateArgs {
    /// Where the audit history lives [default: $XDG_STATE_HOME/perfsage].
    #[arg(long, value_name = "DIR", env = "PERFSAGE_STATE_DIR")]
    state_dir: Option<PathBuf>,
}

impl StateArgs {
    fn dir(&self) -> Result<PathBuf, Failure> {
        self.state_dir
            .clone()
            .or_else(audits::default_state_dir)
            .ok_or_else(|| Failure::usage(anyhow!("no home directory to keep the history in; pass --state-dir")))
    }

    fn history(&self) -> Result<History, Failure> {
        History::open(&self.dir()?).map_err(Failure::usage)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum AuditFormat {
    Table,
    Json,
    Markdown,
    Html,
    Prometheus,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum HistoryFormat {
    Table,
    Json,
}

pub fn audit(args: AuditArgs) -> Result<Exit, Failure> {
    let pack = RulePack::load(args.plugins.config.as_deref()).map_err(Failure::usage)?;
    let state_dir = args.state.dir()?;
    let lock = AuditLock::acquire(&state_dir).map_err(Failure::usage)?;
    let mut history = History::open(&state_dir).map_err(Failure::usage)?;
    let interrupted = history.mark_interrupted().map_err(Failure::degraded)?;
    if interrupted > 0 {
        log::warn!("{interrupted} audit(s) were interrupted by a process that died");
    }
    let engine = load_engine(&args.plugins, &pack)?;
    let origin = match &args.snapshot {
        Some(path) => SnapshotOrigin::Replay(path.clone()),
        None => SnapshotOrigin::Collect(Box::new(collect_options(&args.collect, &pack)?)),
    };
    let exports = Exports { json: args.json.clone(), html: args.html.clone(), prometheus: args.prometheus.clone() };

    let Some(every) = args.every else {
        let outcome = audits::audit(&mut history, &origin, args.target.as_deref(), &|s| engine.check(s))
            .map_err(Failure::degraded)?;
        if let Some(keep) = args.keep {
            audits::prune(&history, keep).map_err(Failure::degraded)?;
        }
        let Some(view) = &outcome.view else {
            let error = outcome.error.unwrap_or_default();
            return Err(Failure::degraded(anyhow!("audit {} failed: {error}", outcome.id)));
        };
        exports.write(view).map_err(Failure::degraded)?;
        write_stdout(&render(view, args.format)?)?;
        return Ok(exit_code(&outcome, args.fail_on.map(Severity::from), args.fail_on_new));
    };

    let schedule = Schedule { every, jitter: args.jitter.unwrap_or_default() };
    let target = args.target.clone();
    let keep = args.keep;
    let ended = service::serve(schedule, move || {
        // A failed audit is recorded and reported; the service goes on.
        match audits::audit(&mut history, &origin, target.as_deref(), &|s| engine.check(s)) {
            Ok(outcome) => {
                eprintln!("perfsage: {}", outcome_line(&outcome));
                if let Some(view) = &outcome.view
                    && let Err(e) = exports.write(view)
                {
                    log::error!("{:#}", anyhow::Error::from(e));
                }
            }
            Err(e) => log::error!("audit not recorded: {:#}", anyhow::Error::from(e)),
        }
        if let Some(keep) = keep
            && let Err(e) = audits::prune(&history, keep)
        {
            log::error!("pruning the history: {:#}", anyhow::Error::from(e));
        }
    })
    .map_err(Failure::degraded)?;
    drop(lock);
    match ended {
        Ended::Clean => Ok(Exit::Clean),
        Ended::Abandoned => Err(Failure::degraded(anyhow!("stopped during an audit; it is recorded as interrupted"))),
    }
}

pub fn history(args: HistoryArgs) -> Result<Exit, Failure> {
    let history = args.state.history()?;
    let audits = history.list(args.target.as_deref(), None, args.limit).map_err(Failure::degraded)?;
    let text = match args.format {
        HistoryFormat::Json => {
            let mut text = serde_json::to_string_pretty(&audits).map_err(Failure::degraded)?;
            text.push('\n');
            text
        }
        HistoryFormat::Table => history_table(&audits),
    };
    write_stdout(&text)?;
    Ok(Exit::Clean)
}

pub fn report(args: ReportArgs) -> Result<Exit, Failure> {
    let history = args.state.history()?;
    let view = AuditView::load(&history, args.id).map_err(Failure::usage)?;
    write_stdout(&render(&view, args.format)?)?;
    Ok(Exit::Clean)
}

fn history_table(audits: &[AuditSummary]) -> String {
    let mut builder = tabled::builder::Builder::default();
    let mut header = vec!["Id".to_string(), "Target".into(), "Started (UTC)".into(), "Took".into(), "Status".into()];
    header.extend(Severity::ALL.iter().rev().map(|s| s.as_str().to_string()));
    builder.push_record(header);
    for a in audits {
        let started = std::time::UNIX_EPOCH + Duration::from_millis(a.started_at_ms.max(0) as u64);
        let took = a.duration_ms.map_or(String::new(), |ms| format!("{:.1} s", ms as f64 / 1000.0));
        let mut row = vec![
            a.id.to_string(),
            terminal_safe(&a.target).into_owned(),
            humantime::format_rfc3339_seconds(started).to_string(),
            took,
            a.status.to_string(),
        ];
        row.extend(Severity::ALL.iter().rev().map(|s| a.by_severity[s.rank() as usize].to_string()));
        builder.push_record(row);
    }
    let mut table = builder.build();
    table.with(tabled::settings::Style::rounded());
    format!("{table}\n")
}

/// A stored audit in `format`: the report formats plus the diff, or an export.
fn render(view: &AuditView, format: AuditFormat) -> Result<String, Failure> {
    let color = std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let report_format = match format {
        AuditFormat::Json => return Ok(audits::audit_json(view)),
        AuditFormat::Html => return audits::html::render(view).map_err(Failure::degraded),
        AuditFormat::Prometheus => return Ok(audits::prometheus::render(view)),
        AuditFormat::Table => Format::Table,
        AuditFormat::Markdown => Format::Markdown,
    };
    let mut text = view.report.render(report_format, color);
    text.push_str(&format!("\n{}\n", outcome_line_of(view)));
    // Rules and targets come from plugins, the severity from the history file.
    let diff = &view.diff;
    let safe = |s: &str| terminal_safe(s).into_owned();
    for f in &diff.new {
        let (rule, target, severity) = (safe(&f.rule), safe(&f.target), safe(&f.severity));
        text.push_str(&format!("  new       {rule} {target} ({severity}, score {:.3})\n", f.score));
    }
    for f in &diff.resolved {
        text.push_str(&format!("  resolved  {} {}\n", safe(&f.rule), safe(&f.target)));
    }
    for p in diff.persisting.iter().filter(|p| p.score_change != 0.0) {
        text.push_str(&format!(
            "  changed   {} {} (score {:.3} → {:.3}, {:+.3})\n",
            safe(&p.rule),
            safe(&p.target),
            p.score_before,
            p.score,
            p.score_change
        ));
    }
    Ok(text)
}

/// `audit 4 of crm-web-1: complete, 3 findings; since audit 3: 1 new, 2 resolved, 2 persisting`.
fn outcome_line(outcome: &AuditOutcome) -> String {
    match (&outcome.view, &outcome.error) {
        (Some(view), Some(error)) => {
            format!("{}; failed sources: {}", outcome_line_of(view), terminal_safe(&error.replace('\n', "; ")))
        }
        (Some(view), None) => outcome_line_of(view),
        (None, error) => {
            format!("audit {}: {}: {}", outcome.id, outcome.status, terminal_safe(error.as_deref().unwrap_or("")))
        }
    }
}

fn outcome_line_of(view: &AuditView) -> String {
    let s = &view.summary;
    let mut line = format!("audit {} of {}: {}, {} findings", s.id, terminal_safe(&s.target), s.status, s.findings());
    let diff = &view.diff;
    match diff.previous_audit {
        Some(p) => line.push_str(&format!(
            "; since audit {p}: {} new, {} resolved, {} persisting",
            diff.new.len(),
            diff.resolved.len(),
            diff.persisting.len()
        )),
        None => line.push_str("; first audit of this target"),
    }
    line
}

/// 3 when the audit is incomplete; 1 when a finding (a new one, with
/// `--fail-on-new`) is at or above `--fail-on` (any severity when only
/// `--fail-on-new` is given); else 0.
fn exit_code(outcome: &AuditOutcome, fail_on: Option<Severity>, fail_on_new: bool) -> Exit {
    if outcome.status != Status::Complete {
        return Exit::Degraded;
    }
    let Some(view) = &outcome.view else { return Exit::Degraded };
    let threshold = match (fail_on, fail_on_new) {
        (Some(t), _) => t,
        (None, true) => Severity::Info,
        (None, false) => return Exit::Clean,
    };
    let at_threshold = |name: &str| Severity::from_name(name).is_some_and(|s| s.at_least(threshold));
    let failing = if fail_on_new {
        view.diff.new.iter().any(|f| at_threshold(&f.severity))
    } else {
        view.report.findings.iter().any(|f| at_threshold(f.severity))
    };
    if failing { Exit::FindingsAtThreshold } else { Exit::Clean }
}
