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

use std::path::Path;
use std::time::SystemTime;

use serde::Serialize;

use super::journal::{EXCERPT_BYTES, Entry, Journal, JournalError, Phase, Record, Verdict};
use super::plan::{Step, hook_state_dir};
use super::runner::{self, Ending, Outcome};

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
    /// Ranks of selected steps not run because an earlier one failed.
    pub not_run: Vec<usize>,
}

impl ApplyReport {
    pub fn any_failed(&self) -> bool {
        self.results.iter().any(StepResult::failed)
    }
}

/// Re-checks the finding behind a step after its hook ran: the verdict and a line of detail.
pub type Verifier<'a> = dyn FnMut(&Step) -> (Verdict, String) + 'a;

/// Apply `steps` (hooked steps only), journaling every run.
pub fn apply(
    steps: &[&Step],
    journal: &mut Journal,
    state_dir: &Path,
    run: &str,
    keep_going: bool,
    verifier: &mut Verifier<'_>,
) -> Result<ApplyReport, JournalError> {
    let mut report = ApplyReport { run: run.into(), results: Vec::new(), not_run: Vec::new() };
    for (index, step) in steps.iter().enumerate() {
        let result = apply_one(step, journal, state_dir, run, verifier)?;
        let failed = result.failed();
        report.results.push(result);
        if failed && !keep_going {
            report.not_run = steps[index + 1..].iter().map(|s| s.rank).collect();
            break;
        }
    }
    Ok(report)
}

fn apply_one(
    step: &Step,
    journal: &mut Journal,
    state_dir: &Path,
    run: &str,
    verifier: &mut Verifier<'_>,
) -> Result<StepResult, JournalError> {
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
    let run_phase = |journal: &mut Journal, phase: Phase| -> Result<Option<Outcome>, JournalError> {
        let Some(invocation) = step.commands().and_then(|c| c.invocation(phase, false)) else {
            return Ok(None);
        };
        let private = hook_state_dir(state_dir, &hook);
        if let Err(e) = create_private_dir(&private) {
            log::warn!("cannot create the hook state directory {}: {e}", private.display());
        }
        journal.append(&record(Entry::Started {
            phase,
            argv: invocation.argv.clone(),
            params: step.params.clone(),
        }))?;
        let outcome = runner::run(&invocation);
        journal.append(&record(Entry::Finished {
            phase,
            ending: outcome.ending.clone(),
            duration_ms: outcome.duration.as_millis() as u64,
            stdout: outcome.stdout.excerpt(EXCERPT_BYTES),
            stderr: outcome.stderr.excerpt(EXCERPT_BYTES),
        }))?;
        Ok(Some(outcome))
    };

    let applied = run_phase(journal, Phase::Apply)?.expect("every hook has an apply command");
    result.apply = applied.ending;
    if !result.apply.succeeded() {
        result.detail = last_line(&applied.stderr.excerpt(EXCERPT_BYTES));
        return Ok(result);
    }
    let (verdict, detail) = match run_phase(journal, Phase::Verify)? {
        Some(checked) if !checked.ending.succeeded() => (
            Verdict::VerifyFailed,
            format!("verify command: {}; {}", checked.ending, last_line(&checked.stderr.excerpt(EXCERPT_BYTES))),
        ),
        _ => verifier(step),
    };
    journal.append(&record(Entry::Verified { verdict, detail: detail.clone() }))?;
    result.verdict = Some(verdict);
    result.detail = detail;
    if verdict.failed() {
        result.rollback = run_phase(journal, Phase::Rollback)?.map(|o| o.ending);
    }
    Ok(result)
}

fn last_line(text: &str) -> String {
    text.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or_default().to_string()
}

/// Create a directory (and its parents) readable by the owner only.
pub fn create_private_dir(path: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new().recursive(true).mode(0o700).create(path)
}
