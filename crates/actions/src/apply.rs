//! Applying a plan's steps: journal, run, verify, roll back.
//!
//! For each selected step, in rank order:
//! 1. `started` is journaled (and synced), the hook runs, `finished` is journaled;
//! 2. if it succeeded, the binding's verify command (if any) must pass, then the
//!    caller's verifier re-checks the finding (re-collect, re-run the rule);
//!    the verdict is journaled;
//! 3. if the verdict is a failure and the binding has a rollback, it runs, journaled
//!    like any hook.
//!
//! A failed hook or verdict stops the remaining steps unless `keep_going`.
//! Nothing runs unless its `started` record reached the disk: a journal that
//! cannot be written ends the apply.
//!
//! A SIGINT/SIGTERM (caught by [`super::interrupt`]) stops everything: the
//! hook in flight is ended with its group and journaled as `interrupted`, and
//! no further command starts, not even a rollback (the operator asked for a
//! stop; the journal says exactly what was and was not done). Every hook
//! inherits the apply lock's descriptor, so the lock is held for as long as
//! any of its processes live.

use std::path::Path;
use std::time::SystemTime;

use serde::Serialize;

use super::journal::{EXCERPT_BYTES, Entry, Journal, JournalError, Phase, Record, Verdict};
use super::plan::{Step, hook_state_dir};
use super::runner::{self, Ending, Guard, Outcome};

/// What happened to one selected step.
#[derive(Debug, Clone, Serialize)]
pub struct StepResult {
    pub rank: usize,
    pub action: String,
    pub target: String,
    pub hook: String,
    pub apply: Ending,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verdict: Option<Verdict>,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub detail: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rollback: Option<Ending>,
}

impl StepResult {
    /// The hook failed, or the change did not do what it should.
    pub fn failed(&self) -> bool {
        !self.apply.succeeded() || self.verdict.is_some_and(Verdict::failed)
    }
}

/// The outcome of one apply.
#[derive(Debug, Clone, Serialize)]
pub struct ApplyReport {
    pub run: String,
    pub results: Vec<StepResult>,
    /// Ranks of selected steps not run because an earlier one failed or a signal stopped the apply.
    pub not_run: Vec<usize>,
    /// The signal (SIGINT/SIGTERM) that stopped the apply, if one did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub interrupted: Option<i32>,
}

impl ApplyReport {
    pub fn any_failed(&self) -> bool {
        self.interrupted.is_some() || self.results.iter().any(StepResult::failed)
    }
}

/// Where and how hooks run: the state directory, the journal run id, and the
/// apply lock's descriptor every hook inherits.
#[derive(Debug, Clone, Copy)]
pub struct Context<'a> {
    pub state_dir: &'a Path,
    pub run: &'a str,
    pub lock_fd: Option<std::os::fd::RawFd>,
}

/// Re-checks the finding behind a step after its hook ran: the verdict and a line of detail.
pub type Verifier<'a> = dyn FnMut(&Step) -> (Verdict, String) + 'a;

/// Apply `steps` (hooked steps only), journaling every run.
pub fn apply(
    steps: &[&Step],
    journal: &mut Journal,
    context: Context<'_>,
    keep_going: bool,
    verifier: &mut Verifier<'_>,
) -> Result<ApplyReport, JournalError> {
    let mut report =
        ApplyReport { run: context.run.into(), results: Vec::new(), not_run: Vec::new(), interrupted: None };
    for (index, step) in steps.iter().enumerate() {
        let (result, interrupted) = apply_one(step, journal, context, verifier)?;
        let failed = result.failed();
        if let Some(result) = result.ran() {
            report.results.push(result);
        }
        if interrupted.is_some() || (failed && !keep_going) {
            report.interrupted = interrupted;
            let first_not_run =
                if report.results.last().is_some_and(|r| r.rank == step.rank) { index + 1 } else { index };
            report.not_run = steps[first_not_run..].iter().map(|s| s.rank).collect();
            break;
        }
    }
    Ok(report)
}

/// A step's result, or nothing when a signal came before its apply command started.
enum Ran {
    Yes(StepResult),
    NotStarted,
}

impl Ran {
    fn failed(&self) -> bool {
        matches!(self, Ran::Yes(result) if result.failed())
    }

    fn ran(self) -> Option<StepResult> {
        match self {
            Ran::Yes(result) => Some(result),
            Ran::NotStarted => None,
        }
    }
}

/// One step: its result and, if a signal stopped the apply during it, the signal.
fn apply_one(
    step: &Step,
    journal: &mut Journal,
    context: Context<'_>,
    verifier: &mut Verifier<'_>,
) -> Result<(Ran, Option<i32>), JournalError> {
    let Context { state_dir, run, lock_fd } = context;
    let hook = step.hook.clone().expect("hooked steps name their hook");
    let mut result = StepResult {
        rank: step.rank,
        action: step.action.clone(),
        target: step.target.clone(),
        hook: hook.clone(),
        apply: Ending::SpawnFailed { error: "not run".into() },
        verdict: None,
        detail: String::new(),
        rollback: None,
    };
    let record = |entry| Record {
        at: humantime::format_rfc3339_millis(SystemTime::now()).to_string(),
        run: run.into(),
        action: step.action.clone(),
        target: step.target.clone(),
        hook: hook.clone(),
        entry,
    };
    let grace = step.commands().map_or(runner::DEFAULT_STOP_GRACE, |c| c.stop_grace);
    let guard = Guard { inherit_fd: lock_fd, grace };
    // Ok(None): the binding has no such command; Err(signal): a signal came first, nothing was started.
    let run_phase = |journal: &mut Journal, phase: Phase| -> Result<Result<Option<Outcome>, i32>, JournalError> {
        let Some(invocation) = step.commands().and_then(|c| c.invocation(phase, false, run)) else {
            return Ok(Ok(None));
        };
        if let Some(signal) = super::interrupt::pending() {
            journal.append(&record(Entry::Interrupted { phase, signal }))?;
            return Ok(Err(signal));
        }
        let private = hook_state_dir(state_dir, &hook);
        if let Err(e) = create_private_dir(&private) {
            log::warn!("cannot create the hook state directory {}: {e}", private.display());
        }
        journal.append(&record(Entry::Started {
            phase,
            argv: invocation.argv.clone(),
            params: step.params.clone(),
        }))?;
        let outcome = runner::run_guarded(&invocation, &guard);
        journal.append(&record(Entry::Finished {
            phase,
            ending: outcome.ending.clone(),
            duration_ms: outcome.duration.as_millis() as u64,
            stdout: outcome.stdout.excerpt(EXCERPT_BYTES),
            stderr: outcome.stderr.excerpt(EXCERPT_BYTES),
        }))?;
        Ok(Ok(Some(outcome)))
    };
    let interrupted_by = |ending: &Ending| match ending {
        Ending::Interrupted { signal, .. } => Some(*signal),
        _ => None,
    };

    let applied = match run_phase(journal, Phase::Apply)? {
        Err(signal) => return Ok((Ran::NotStarted, Some(signal))),
        Ok(applied) => applied.expect("every hook has an apply command"),
    };
    result.apply = applied.ending;
    if !result.apply.succeeded() {
        result.detail = last_line(&applied.stderr.excerpt(EXCERPT_BYTES));
        let signal = interrupted_by(&result.apply);
        return Ok((Ran::Yes(result), signal));
    }
    let (verdict, detail) = match run_phase(journal, Phase::Verify)? {
        Err(signal) => return Ok((Ran::Yes(result), Some(signal))),
        Ok(Some(checked)) if !checked.ending.succeeded() => {
            if let Some(signal) = interrupted_by(&checked.ending) {
                result.detail = format!("verify command: {}", checked.ending);
                return Ok((Ran::Yes(result), Some(signal)));
            }
            (
                Verdict::VerifyFailed,
                format!("verify command: {}; {}", checked.ending, last_line(&checked.stderr.excerpt(EXCERPT_BYTES))),
            )
        }
        Ok(_) => verifier(step),
    };
    journal.append(&record(Entry::Verified { verdict, detail: detail.clone() }))?;
    result.verdict = Some(verdict);
    result.detail = detail;
    if verdict.failed() {
        match run_phase(journal, Phase::Rollback)? {
            Err(signal) => return Ok((Ran::Yes(result), Some(signal))),
            Ok(rolled) => {
                result.rollback = rolled.map(|o| o.ending);
                let signal = result.rollback.as_ref().and_then(interrupted_by);
                return Ok((Ran::Yes(result), signal));
            }
        }
    }
    // A signal during the (slow) re-collection stops the steps after this one.
    Ok((Ran::Yes(result), super::interrupt::pending()))
}

fn last_line(text: &str) -> String {
    text.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or_default().to_string()
}

/// Create a directory (and its parents) readable by the owner only.
pub fn create_private_dir(path: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new().recursive(true).mode(0o700).create(path)
}
