//! `plan`, `apply` and `journal`: the command-line side of [`perfsage_actions`].
//!
//! `plan` and `apply` take the inputs of `run` (collect this machine) or
//! `check` (`--snapshot FILE`). Verification re-collects this machine and
//! re-runs the rules, so it is honest only for a live plan; after a plan from
//! a snapshot it is reported as skipped.

use std::collections::BTreeSet;
use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;
use std::time::SystemTime;

use anyhow::{Context, anyhow};
use serde::Serialize;

use clap::Args;

use super::args::{ActionFormat, CollectArgs, PluginArgs};
use super::commands::{collect, load_engine, write_stdout};
use super::exit::{Exit, Failure};
use crate::pack::RulePack;
use perfsage_actions::apply::{self as applying, ApplyReport};
use perfsage_actions::hooks::{HookSet, materialize_builtin};
use perfsage_actions::interrupt;
use perfsage_actions::journal::{self, Entry, Journal, Phase, Record, Verdict};
use perfsage_actions::lock::ApplyLock;
use perfsage_actions::plan::{How, Step};
use perfsage_actions::runner::{self, Ending, Outcome};
use perfsage_actions::{default_state_dir, plan as planner};
use perfsage_engine::Engine;
use perfsage_model::Snapshot;
use perfsage_ranking::{CheckResult, PluginStatus};
use perfsage_reports::{evidence_line, terminal_safe};
use perfsage_snapshot as snapshot;

/// What `plan` and `apply` work from: this machine (like `run`) or a saved snapshot (like `check`).
#[derive(Debug, Args)]
pub(super) struct ActionInputArgs {
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
pub(super) struct StateArgs {
    /// Where the journal, the apply lock and the hooks' saved state live
    /// [default: $XDG_STATE_HOME/perfsage].
    #[arg(long, value_name = "DIR")]
    state_dir: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub(super) struct PlanArgs {
    #[command(flatten)]
    input: ActionInputArgs,
    #[arg(long, value_enum, default_value_t = ActionFormat::Text)]
    format: ActionFormat,
}

#[derive(Debug, Args)]
pub(super) struct ApplyArgs {
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
pub(super) struct JournalArgs {
    #[command(flatten)]
    state: StateArgs,
    #[arg(long, value_enum, default_value_t = ActionFormat::Text)]
    format: ActionFormat,
}

/// Bytes of a dry run's output shown in a plan.
const DRY_RUN_SHOWN: usize = 16 * 1024;

/// Everything `plan` and `apply` share: the rules, the plugins, the checked input and the hooks.
struct Session {
    pack: RulePack,
    engine: Engine,
    state_dir: PathBuf,
    /// Whether the input was collected live (so verification can re-collect).
    live: bool,
    result: CheckResult,
    steps: Vec<Step>,
}

impl Session {
    fn prepare(input: &ActionInputArgs) -> Result<Self, Failure> {
        let pack = RulePack::load(input.plugins.config.as_deref()).map_err(Failure::usage)?;
        let state_dir = state_dir(&input.state)?;
        let pack_dir = match &pack.dir {
            Some(dir) => dir.clone(),
            None => materialize_builtin(&state_dir)
                .with_context(|| format!("cannot write the built-in hooks into {}", state_dir.display()))
                .map_err(Failure::degraded)?,
        };
        let hooks = HookSet::resolve(&pack.hooks, &pack_dir);
        let engine = load_engine(&input.plugins, &pack)?;
        let snapshot: Snapshot = match &input.snapshot {
            Some(path) => snapshot::load(path).map_err(Failure::usage)?,
            None => collect(&input.collect, &pack)?.snapshot,
        };
        let result = engine.check(&snapshot);
        for failed in result.plugins.iter().filter(|p| p.status == PluginStatus::Failed) {
            let reason = failed.error.as_deref().unwrap_or("no reason given");
            log::warn!(
                "plugin {} failed, its actions are missing from the plan: {}",
                terminal_safe(&failed.name),
                terminal_safe(reason)
            );
        }
        let steps = planner::plan(&result.findings, &hooks, &state_dir);
        Ok(Session { pack, engine, state_dir, live: input.snapshot.is_none(), result, steps })
    }
}

/// The state directory, created private if missing.
fn state_dir(args: &StateArgs) -> Result<PathBuf, Failure> {
    let dir = args
        .state_dir
        .clone()
        .or_else(default_state_dir)
        .ok_or_else(|| Failure::usage(anyhow!("no state directory known here: pass --state-dir DIR")))?;
    perfsage_private::ensure_dir(&dir)
        .with_context(|| format!("cannot create the state directory {}", dir.display()))
        .map_err(Failure::usage)?;
    Ok(dir)
}

/// A step of `plan`, with what its hook printed in dry-run mode.
#[derive(Serialize)]
struct PlannedStep<'a> {
    #[serde(flatten)]
    step: &'a Step,
    #[serde(skip_serializing_if = "Option::is_none")]
    dry_run_output: Option<DryRun>,
}

#[derive(Serialize)]
struct DryRun {
    #[serde(flatten)]
    ending: Ending,
    stdout: String,
    stderr: String,
}

impl From<Outcome> for DryRun {
    fn from(outcome: Outcome) -> Self {
        DryRun {
            ending: outcome.ending,
            stdout: outcome.stdout.excerpt(DRY_RUN_SHOWN),
            stderr: outcome.stderr.excerpt(DRY_RUN_SHOWN),
        }
    }
}

pub fn plan(args: PlanArgs) -> Result<Exit, Failure> {
    let session = Session::prepare(&args.input)?;
    let planned: Vec<PlannedStep> = session
        .steps
        .iter()
        .map(|step| {
            let dry_run = step
                .commands()
                .filter(|c| c.dry_run)
                .and_then(|c| c.invocation(Phase::Apply, true, ""))
                .map(|invocation| DryRun::from(runner::run(&invocation)));
            PlannedStep { step, dry_run_output: dry_run }
        })
        .collect();
    let text = match args.format {
        ActionFormat::Json => {
            let mut text =
                serde_json::to_string_pretty(&serde_json::json!({ "steps": planned })).expect("a plan serializes");
            text.push('\n');
            text
        }
        ActionFormat::Text => render_plan(&planned),
    };
    write_stdout(&text)?;
    Ok(if session.result.any_failed() { Exit::Degraded } else { Exit::Clean })
}

fn render_plan(planned: &[PlannedStep]) -> String {
    if planned.is_empty() {
        return "No actions to plan: no finding proposed one.\n".into();
    }
    let mut out = String::new();
    for PlannedStep { step, dry_run_output } in planned {
        let kind = match &step.hook {
            Some(hook) if step.commands().is_some() => format!("hook {hook}"),
            _ => "manual".to_string(),
        };
        out.push_str(&format!(
            "{}. [{}] {} — {}\n   for {} ({}, score {})\n",
            step.rank,
            terminal_safe(&kind),
            terminal_safe(&step.action),
            terminal_safe(&step.title),
            terminal_safe(&step.target),
            terminal_safe(&step.rule),
            step.score
        ));
        out.push_str(&params_line("   ", step));
        match &step.how {
            How::Manual { reason } => {
                out.push_str(&format!("   manual: {}\n", terminal_safe(reason)));
                if !step.detail.is_empty() {
                    out.push_str(&format!("   what to do: {}\n", terminal_safe(&step.detail)));
                }
            }
            How::Hook(commands) => {
                out.push_str(&format!("   argv: {}\n", argv_shown(&commands.apply.argv)));
                out.push_str("   env (the whole environment):\n");
                for (key, value) in &commands.apply.env {
                    out.push_str(&format!("     {key}={}\n", terminal_safe(runner::shown_value(key, value))));
                }
                out.push_str(&format!(
                    "   timeout {} ms; verify{}: {}; rollback: {}\n",
                    commands.apply.timeout.as_millis(),
                    if commands.settle.is_zero() {
                        String::new()
                    } else {
                        format!(" after {} ms", commands.settle.as_millis())
                    },
                    commands.verify.as_ref().map_or("re-check the finding".to_string(), |v| format!(
                        "{}, then re-check the finding",
                        argv_shown(v)
                    )),
                    commands.rollback.as_ref().map_or("none".to_string(), |r| argv_shown(r)),
                ));
                match dry_run_output {
                    None => out.push_str("   dry run: not supported by this hook (it was not called)\n"),
                    Some(dry) => {
                        out.push_str(&format!("   dry run (PERFSAGE_DRY_RUN=1, {}):\n", dry.ending));
                        for line in dry.stdout.lines().chain(dry.stderr.lines()) {
                            out.push_str(&format!("     | {}\n", terminal_safe(line)));
                        }
                    }
                }
            }
        }
        out.push('\n');
    }
    out
}

/// Every parameter of a step with its value, escaped: `<indent>params: key=value, ...` (empty without any).
fn params_line(indent: &str, step: &Step) -> String {
    if step.params.is_empty() {
        return String::new();
    }
    let shown: Vec<String> =
        step.params.iter().map(|(k, v)| format!("{}={}", terminal_safe(k), terminal_safe(v))).collect();
    format!("{indent}params: {}\n", shown.join(", "))
}

/// An argv as a list of quoted, escaped strings.
fn argv_shown(argv: &[String]) -> String {
    let quoted: Vec<String> = argv.iter().map(|a| format!("\"{}\"", terminal_safe(a))).collect();
    format!("[{}]", quoted.join(", "))
}

/// The steps `--action` or `--top` select, in rank order.
fn select<'a>(steps: &'a [Step], args: &ApplyArgs) -> Result<Vec<&'a Step>, Failure> {
    if let Some(top) = args.top {
        return Ok(steps.iter().filter(|s| s.commands().is_some()).take(top as usize).collect());
    }
    let wanted: BTreeSet<&str> = args.actions.iter().map(String::as_str).collect();
    let known: BTreeSet<&str> = steps.iter().map(|s| s.action.as_str()).collect();
    if let Some(missing) = wanted.iter().find(|id| !known.contains(*id)) {
        let known: Vec<&str> = known.into_iter().collect();
        return Err(Failure::usage(anyhow!(
            "no ranked action `{missing}` now (the plan has: {})",
            if known.is_empty() { "none".to_string() } else { known.join(", ") }
        )));
    }
    Ok(steps.iter().filter(|s| wanted.contains(s.action.as_str())).collect())
}

#[derive(Serialize)]
struct ApplyOutput<'a> {
    #[serde(flatten)]
    report: &'a ApplyReport,
    /// Selected steps that have no hook to run.
    manual: Vec<&'a Step>,
}

pub fn apply(args: ApplyArgs) -> Result<Exit, Failure> {
    let interactive = std::io::stdin().is_terminal() && std::io::stderr().is_terminal();
    if !args.yes && !interactive {
        return Err(Failure::usage(anyhow!(
            "refusing to apply without consent: pass --yes, or run on a terminal to be asked (nothing was run)"
        )));
    }
    let session = Session::prepare(&args.input)?;
    let selected = select(&session.steps, &args)?;
    let (runnable, manual): (Vec<&Step>, Vec<&Step>) = selected.into_iter().partition(|s| s.commands().is_some());
    for step in &manual {
        if let How::Manual { reason } = &step.how {
            eprintln!(
                "perfsage: {} on {} is a manual step, not run: {}",
                terminal_safe(&step.action),
                terminal_safe(&step.target),
                terminal_safe(reason)
            );
        }
    }
    if runnable.is_empty() {
        eprintln!("perfsage: nothing to apply");
        return Ok(Exit::Clean);
    }
    if !args.yes && !ask_consent(&runnable)? {
        return Err(Failure::usage(anyhow!("not applied: no consent (nothing was run)")));
    }
    // From here on a SIGINT/SIGTERM is forwarded to the running hook and stops
    // the apply (journaled), instead of killing perfsage with the hook orphaned.
    interrupt::install().context("cannot catch SIGINT/SIGTERM").map_err(Failure::degraded)?;
    let lock = ApplyLock::acquire(&session.state_dir).map_err(Failure::usage)?;
    let mut journal = Journal::open(&session.state_dir).map_err(Failure::degraded)?;
    if journal.repaired() {
        eprintln!("perfsage: the journal's last line was torn (a crash mid-write): ended it; new records follow it");
    }
    let run = format!("{}-{}", humantime::format_rfc3339_seconds(SystemTime::now()), std::process::id());
    let mut verifier = |step: &Step| verify(&session, &args.input, step);
    let context = applying::Context { state_dir: &session.state_dir, run: &run, lock_fd: Some(lock.fd()) };
    let report = perfsage_actions::apply::apply(&runnable, &mut journal, context, args.keep_going, &mut verifier)
        .map_err(|e| Failure::degraded(anyhow::Error::new(e).context("stopped: the journal cannot be written")))?;

    let text = match args.format {
        ActionFormat::Json => {
            let output = ApplyOutput { report: &report, manual };
            let mut text = serde_json::to_string_pretty(&output).expect("a report serializes");
            text.push('\n');
            text
        }
        ActionFormat::Text => render_apply(&report, journal.path()),
    };
    write_stdout(&text)?;
    if let Some(signal) = report.interrupted {
        eprintln!("perfsage: interrupted by signal {signal}: stopped; the journal says what ran (run {run})");
    }
    Ok(if report.any_failed() || session.result.any_failed() { Exit::Degraded } else { Exit::Clean })
}

/// Show the selected steps on the terminal and ask.
fn ask_consent(steps: &[&Step]) -> Result<bool, Failure> {
    let mut stderr = std::io::stderr().lock();
    let mut prompt = String::from("perfsage will run:\n");
    for step in steps {
        let argv = step.commands().map(|c| argv_shown(&c.apply.argv)).unwrap_or_default();
        prompt.push_str(&format!(
            "  {}. {} on {}: {argv}\n",
            step.rank,
            terminal_safe(&step.action),
            terminal_safe(&step.target)
        ));
        prompt.push_str(&params_line("     ", step));
    }
    prompt.push_str(&format!("Apply these {} actions? [y/N] ", steps.len()));
    stderr.write_all(prompt.as_bytes()).and_then(|_| stderr.flush()).map_err(Failure::degraded)?;
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer).map_err(Failure::degraded)?;
    Ok(matches!(answer.trim().to_ascii_lowercase().as_str(), "y" | "yes"))
}

/// Re-collect this machine, re-run the rules, and look for the finding behind `step`.
fn verify(session: &Session, input: &ActionInputArgs, step: &Step) -> (Verdict, String) {
    if !session.live {
        return (Verdict::Skipped, "the plan came from a snapshot: verification needs a live run".into());
    }
    if let Some(commands) = step.commands() {
        std::thread::sleep(commands.settle);
    }
    let collected = match collect(&input.collect, &session.pack) {
        Ok(collected) => collected,
        Err(failure) => return (Verdict::Skipped, format!("cannot re-collect this machine: {:#}", failure.error)),
    };
    let result = session.engine.check(&collected.snapshot);
    let still = result.findings.iter().find(|f| f.target == step.target && step.raised_by.contains(&f.rule));
    match still {
        Some(finding) => {
            let evidence: Vec<String> = finding.evidence.iter().map(evidence_line).collect();
            (
                Verdict::StillPresent,
                format!("{} still reports {}: {}", finding.rule, finding.target, evidence.join("; ")),
            )
        }
        None => {
            (Verdict::Cleared, format!("re-checked: {} no longer reports {}", step.raised_by.join(", "), step.target))
        }
    }
}

fn render_apply(report: &ApplyReport, journal: &std::path::Path) -> String {
    let mut out = String::new();
    for r in &report.results {
        out.push_str(&format!(
            "{}. {} on {} (hook {}): {}",
            r.rank,
            terminal_safe(&r.action),
            terminal_safe(&r.target),
            terminal_safe(&r.hook),
            r.apply
        ));
        if let Some(verdict) = r.verdict {
            out.push_str(&format!("; {}", verdict.as_str()));
        }
        if let Some(rollback) = &r.rollback {
            out.push_str(&format!("; rolled back: {rollback}"));
        }
        out.push('\n');
        if !r.detail.is_empty() {
            out.push_str(&format!("   {}\n", terminal_safe(&r.detail)));
        }
    }
    for rank in &report.not_run {
        match report.interrupted {
            Some(signal) => out.push_str(&format!("{rank}. not run: interrupted by signal {signal}\n")),
            None => out.push_str(&format!("{rank}. not run: an earlier action failed (--keep-going runs the rest)\n")),
        }
    }
    out.push_str(&format!("Journal: {} (run {})\n", journal.display(), report.run));
    out
}

pub fn journal(args: JournalArgs) -> Result<Exit, Failure> {
    let state_dir = state_dir(&args.state)?;
    let (records, bad) = journal::read(&state_dir).map_err(Failure::usage)?;
    // An unreadable line (a crash mid-write leaves one) is reported and skipped, never fatal:
    // the journal is most needed right after a crash.
    for line in &bad {
        eprintln!("perfsage: journal line {} is unreadable, skipped (a torn write?): {}", line.line, line.error);
    }
    let text = match args.format {
        ActionFormat::Json => {
            let mut text = serde_json::to_string_pretty(&records).expect("records serialize");
            text.push('\n');
            text
        }
        ActionFormat::Text => render_journal(&records, &state_dir),
    };
    write_stdout(&text)?;
    Ok(Exit::Clean)
}

fn render_journal(records: &[Record], state_dir: &std::path::Path) -> String {
    if records.is_empty() {
        return format!("The journal in {} is empty: nothing was applied.\n", state_dir.display());
    }
    let mut builder = tabled::builder::Builder::default();
    builder.push_record(["Time", "Run", "Event", "Action", "Target", "Hook", "Result"]);
    for r in records {
        let (event, result) = match &r.entry {
            Entry::Started { phase, argv, params } => {
                let shown: Vec<String> = params.iter().map(|(k, v)| format!("{k}={v}")).collect();
                let params = if shown.is_empty() { String::new() } else { format!(" params: {}", shown.join(", ")) };
                (format!("{} started", phase.as_str()), format!("{}{params}", argv_shown(argv)))
            }
            Entry::Finished { phase, ending, duration_ms, stderr, .. } => {
                let last = stderr.lines().last().map(|l| format!(": {l}")).unwrap_or_default();
                (format!("{} finished", phase.as_str()), format!("{ending} in {duration_ms} ms{last}"))
            }
            Entry::Verified { verdict, detail } => ("verified".to_string(), format!("{}: {detail}", verdict.as_str())),
            Entry::Interrupted { phase, signal } => {
                (format!("{} not started", phase.as_str()), format!("interrupted by signal {signal}"))
            }
        };
        let row = [r.at.as_str(), &r.run, &event, &r.action, &r.target, &r.hook, &result];
        builder.push_record(row.map(|cell| terminal_safe(cell).into_owned()));
    }
    let mut table = builder.build();
    table.with(tabled::settings::Style::rounded());
    format!("{table}\n")
}
