//! The plan: every ranked action, turned into either an exact hook invocation
//! or a manual step.
//!
//! This is where plugin-supplied data meets the rule pack, so it is where the
//! safety rules hold:
//! - a hook name that the pack does not bind gives a manual step, never a command;
//! - the command comes only from the pack; a plugin's parameters reach it only
//!   as `PERFSAGE_PARAM_<KEY>` environment variables, with keys restricted to
//!   `[A-Za-z0-9_]` (upper-cased) and values without NUL and at most
//!   [`MAX_VALUE_BYTES`]; anything else makes the step manual, with the reason;
//! - the parameters must match the binding's declaration exactly (every
//!   declared key, no other, each value of its type: [`super::params`]); a
//!   binding that declares none takes no parameter at all. A mismatch makes
//!   the step manual, with a reason naming each parameter (escaped);
//! - the environment is complete: nothing of perfsage's own leaks to the hook.
//!
//! Pure: building a plan runs nothing.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::hooks::{HookBinding, HookSet, PARAM_PREFIX};
use super::journal::Phase;
use super::params::check_params;
use super::runner::Invocation;
use super::runner::is_safe_env_key;
use perfsage_ranking::RankedFinding;
use perfsage_reports::terminal_safe;

/// The longest parameter value (and action id or target) passed to a hook.
pub const MAX_VALUE_BYTES: usize = 4096;

/// The `PATH` hooks run with.
pub const HOOK_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// One ranked action and how it would be carried out.
#[derive(Debug, Clone, Serialize)]
pub struct Step {
    /// 1-based position in the plan (rank order).
    pub rank: usize,
    pub action: String,
    pub title: String,
    pub detail: String,
    pub target: String,
    /// The finding rule that ranks it, and every rule that proposed it.
    pub rule: String,
    pub raised_by: Vec<String>,
    pub plugin: String,
    pub score: f64,
    pub hook: Option<String>,
    pub params: BTreeMap<String, String>,
    #[serde(flatten)]
    pub how: How,
}

#[derive(Debug, Clone, Serialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum How {
    /// Run by a hook the rule pack binds.
    Hook(HookCommands),
    /// Carried out by a person; `reason` says why no hook runs it.
    Manual { reason: String },
}

/// The exact commands of a hooked step.
#[derive(Debug, Clone, Serialize)]
pub struct HookCommands {
    /// The apply command with its whole environment.
    pub apply: Invocation,
    /// Whether the hook honours `PERFSAGE_DRY_RUN=1`.
    pub dry_run: bool,
    /// Wait this long after the hook before verification re-collects.
    #[serde(rename = "settle_ms", serialize_with = "super::runner::serialize_millis")]
    pub settle: std::time::Duration,
    pub verify: Option<Vec<String>>,
    pub rollback: Option<Vec<String>>,
    /// After a forwarded SIGINT/SIGTERM, how long the hook's group gets before SIGKILL.
    #[serde(rename = "stop_grace_ms", serialize_with = "super::runner::serialize_millis")]
    pub stop_grace: std::time::Duration,
}

impl HookCommands {
    /// The invocation of `phase` (None when the binding has no such command),
    /// in journal run `run` (`PERFSAGE_RUN`; empty for a plan's dry runs).
    pub fn invocation(&self, phase: Phase, dry_run: bool, run: &str) -> Option<Invocation> {
        let argv = match phase {
            Phase::Apply => self.apply.argv.clone(),
            Phase::Verify => self.verify.clone()?,
            Phase::Rollback => self.rollback.clone()?,
        };
        let mut env = self.apply.env.clone();
        env.insert("PERFSAGE_PHASE".into(), phase.as_str().into());
        env.insert("PERFSAGE_DRY_RUN".into(), if dry_run { "1" } else { "0" }.into());
        env.insert("PERFSAGE_RUN".into(), run.into());
        Some(Invocation { argv, env, timeout: self.apply.timeout })
    }
}

impl Step {
    pub fn commands(&self) -> Option<&HookCommands> {
        match &self.how {
            How::Hook(commands) => Some(commands),
            How::Manual { .. } => None,
        }
    }
}

/// Where each hook keeps what it needs for a rollback: `<state>/hooks/<hook>`.
pub fn hook_state_dir(state_dir: &Path, hook: &str) -> PathBuf {
    state_dir.join("hooks").join(hook)
}

/// Turn ranked findings into steps, in rank order.
pub fn plan(findings: &[RankedFinding], hooks: &HookSet, state_dir: &Path) -> Vec<Step> {
    let mut steps = Vec::new();
    for finding in findings {
        for ranked in &finding.actions {
            let action = &ranked.action;
            let params: BTreeMap<String, String> =
                action.params.iter().map(|p| (p.key.clone(), p.value.clone())).collect();
            let how = match &action.hook {
                None => How::Manual { reason: "no hook: carry it out by hand (see the detail)".into() },
                Some(name) => match hooks.bindings.get(name) {
                    None => How::Manual { reason: format!("hook `{name}` is not bound in the rule pack") },
                    Some(binding) => {
                        let env = environment(&action.id, &finding.target, &action.params, binding, state_dir, name);
                        match env {
                            Ok(env) => How::Hook(HookCommands {
                                apply: Invocation { argv: binding.command.clone(), env, timeout: binding.timeout() },
                                dry_run: binding.dry_run,
                                settle: std::time::Duration::from_millis(binding.settle_ms),
                                verify: binding.verify.clone(),
                                rollback: binding.rollback.clone(),
                                stop_grace: std::time::Duration::from_millis(binding.stop_grace_ms),
                            }),
                            Err(reason) => How::Manual { reason },
                        }
                    }
                },
            };
            steps.push(Step {
                rank: steps.len() + 1,
                action: action.id.clone(),
                title: action.title.clone(),
                detail: action.detail.clone(),
                target: finding.target.clone(),
                rule: finding.rule.clone(),
                raised_by: ranked.raised_by.clone(),
                plugin: finding.plugin.clone(),
                score: ranked.score,
                hook: action.hook.clone(),
                params,
                how,
            });
        }
    }
    steps
}

/// The whole environment of a hook's apply run, or why there can be none.
fn environment(
    action: &str,
    target: &str,
    params: &[perfsage_model::HookParam],
    binding: &HookBinding,
    state_dir: &Path,
    hook: &str,
) -> Result<BTreeMap<String, String>, String> {
    let check_value = |what: &str, value: &str| {
        if value.contains('\0') {
            Err(format!("{what} contains a NUL byte; not passed to a hook"))
        } else if value.len() > MAX_VALUE_BYTES {
            Err(format!("{what} is {} bytes, over the {MAX_VALUE_BYTES}-byte limit; not passed to a hook", value.len()))
        } else {
            Ok(())
        }
    };
    check_value("the action id", action)?;
    check_value("the target", target)?;
    let mut env: BTreeMap<String, String> = binding.env.clone();
    for key in &binding.pass_env {
        if let Ok(value) = std::env::var(key) {
            check_value(&format!("the environment's {key}"), &value)?;
            env.insert(key.clone(), value);
        }
    }
    env.insert("PATH".into(), HOOK_PATH.into());
    env.insert("LC_ALL".into(), "C".into());
    env.insert("PERFSAGE_PHASE".into(), Phase::Apply.as_str().into());
    env.insert("PERFSAGE_DRY_RUN".into(), "0".into());
    env.insert("PERFSAGE_ACTION".into(), action.into());
    env.insert("PERFSAGE_TARGET".into(), target.into());
    env.insert("PERFSAGE_STATE_DIR".into(), hook_state_dir(state_dir, hook).to_string_lossy().into_owned());
    // The journal's run id: what a hook keys its backups by, so a rollback
    // restores the state from before this run's change and nothing older.
    // Filled in by `apply`; empty in a plan (and its dry runs).
    env.insert("PERFSAGE_RUN".into(), String::new());
    // The hook's wall-clock budget, so it can give its own work (a database
    // statement) a shorter one and fail cleanly before it is killed.
    env.insert("PERFSAGE_TIMEOUT_MS".into(), binding.timeout_ms.to_string());
    for param in params {
        if !is_safe_env_key(&param.key) {
            return Err(format!(
                "parameter key \"{}\" is not [A-Za-z0-9_] (1 to 64, not starting with a digit); not passed to a hook",
                terminal_safe(&param.key)
            ));
        }
        check_value(&format!("parameter `{}`", param.key), &param.value)?;
        let name = format!("{PARAM_PREFIX}{}", param.key.to_ascii_uppercase());
        if env.insert(name.clone(), param.value.clone()).is_some() {
            return Err(format!("parameter `{}` is given twice (as {name}); not passed to a hook", param.key));
        }
    }
    let declared = binding.declared(hook)?;
    let pairs: Vec<(String, String)> = params.iter().map(|p| (p.key.clone(), p.value.clone())).collect();
    check_params(declared.as_ref(), &pairs)?;
    Ok(env)
}

#[cfg(test)]
mod tests {
    use super::*;
    use perfsage_model::{Action, Category, Finding, HookParam, Level, Severity};
    use perfsage_ranking::rank;

    fn finding(hook: Option<&str>, params: &[(&str, &str)]) -> Vec<RankedFinding> {
        let action = Action {
            id: "x.fix".into(),
            title: "Fix".into(),
            detail: "by hand: do it".into(),
            category: Category::Software,
            impact: 0.5,
            confidence: 0.5,
            effort: Level::Low,
            risk: Level::Low,
            hook: hook.map(String::from),
            params: params.iter().map(|(k, v)| HookParam { key: k.to_string(), value: v.to_string() }).collect(),
        };
        let finding = Finding {
            rule: "x/rule".into(),
            title: "X".into(),
            category: Category::Software,
            severity: Severity::High,
            target: "host".into(),
            evidence: vec![],
            actions: vec![action],
        };
        rank(vec![("x".into(), finding)])
    }

    fn hooks() -> HookSet {
        let binding = HookBinding {
            command: vec!["/opt/hooks/fix.sh".into(), "--now".into()],
            timeout_ms: 1500,
            dry_run: true,
            settle_ms: 0,
            verify: None,
            rollback: Some(vec!["/opt/hooks/undo.sh".into()]),
            env: BTreeMap::from([("PERFSAGE_ALLOWED_ROOTS".into(), "/srv".into())]),
            pass_env: Vec::new(),
            stop_grace_ms: 5000,
            params: Some(
                toml::from_str(
                    "dir = { type = \"text\", max = 4096 }\nolder_than_days = { type = \"integer\", min = 1, max = 99 }",
                )
                .unwrap(),
            ),
        };
        let undeclared = HookBinding { params: None, ..binding.clone() };
        HookSet { bindings: BTreeMap::from([("fix".to_string(), binding), ("loose".to_string(), undeclared)]) }
    }

    fn one(hook: Option<&str>, params: &[(&str, &str)]) -> Step {
        plan(&finding(hook, params), &hooks(), Path::new("/state")).remove(0)
    }

    #[test]
    fn a_bound_hook_gets_its_argv_and_a_complete_environment() {
        let hostile = "; rm -rf / $(touch x) `id` * u[s]r \\! ' \"";
        let step = one(Some("fix"), &[("dir", hostile), ("older_than_days", "14")]);
        let commands = step.commands().expect("a hook step");
        assert_eq!(commands.apply.argv, ["/opt/hooks/fix.sh", "--now"], "the argv is the pack's, untouched");
        let env = &commands.apply.env;
        assert_eq!(env["PERFSAGE_PARAM_DIR"], hostile, "values pass verbatim, as data");
        assert_eq!(env["PERFSAGE_PARAM_OLDER_THAN_DAYS"], "14");
        assert_eq!(env["PERFSAGE_ALLOWED_ROOTS"], "/srv");
        assert_eq!(env["PERFSAGE_STATE_DIR"], "/state/hooks/fix");
        assert_eq!(env["PATH"], HOOK_PATH);
        assert_eq!(env["PERFSAGE_TIMEOUT_MS"], "1500");
        assert_eq!(env["PERFSAGE_RUN"], "", "a plan belongs to no run");
        let rollback = commands.invocation(Phase::Rollback, false, "2026-01-01T00:00:00Z-7").unwrap();
        assert_eq!(rollback.argv, ["/opt/hooks/undo.sh"]);
        assert_eq!(rollback.env["PERFSAGE_PHASE"], "rollback");
        assert_eq!(rollback.env["PERFSAGE_RUN"], "2026-01-01T00:00:00Z-7");
        assert_eq!(commands.invocation(Phase::Apply, true, "").unwrap().env["PERFSAGE_DRY_RUN"], "1");
        assert!(commands.invocation(Phase::Verify, false, "r").is_none());
    }

    #[test]
    fn unbound_absent_or_unsafe_hooks_become_manual_steps_with_a_reason() {
        let long = "v".repeat(MAX_VALUE_BYTES + 1);
        // (hook, params, expected reason)
        type Case<'a> = (Option<&'a str>, Vec<(&'a str, &'a str)>, &'a str);
        let cases: Vec<Case> = vec![
            (None, vec![], "no hook"),
            (Some("rm -rf /"), vec![], "hook `rm -rf /` is not bound"),
            (Some("fix"), vec![("A;B", "1")], "parameter key \"A;B\" is not"),
            (Some("fix"), vec![("x=y", "1")], "parameter key \"x=y\" is not"),
            (Some("fix"), vec![("k", "a\0b")], "NUL byte"),
            (Some("fix"), vec![("k", &long)], "over the 4096-byte limit"),
            (Some("fix"), vec![("dir", "a"), ("DIR", "b")], "given twice"),
            (Some("fix"), vec![("dir", "a")], "parameter `older_than_days` is missing"),
            (Some("fix"), vec![("dir", "a"), ("older_than_days", "1"), ("x", "1")], "parameter `x` is not declared"),
            (
                Some("fix"),
                vec![("dir", "a\nb"), ("older_than_days", "1")],
                "parameter `dir` = \"a\\nb\": holds control",
            ),
            (Some("fix"), vec![("dir", "a"), ("older_than_days", "100")], "out of range 1..=99"),
            (Some("loose"), vec![("dir", "a")], "declares no parameters"),
        ];
        assert!(one(Some("loose"), &[]).commands().is_some(), "a binding without params runs parameter-free actions");
        for (hook, params, reason) in cases {
            let step = one(hook, &params);
            match &step.how {
                How::Manual { reason: given } => assert!(given.contains(reason), "{given:?} lacks {reason:?}"),
                How::Hook(_) => panic!("{hook:?} {params:?} got a command"),
            }
        }
    }
}
