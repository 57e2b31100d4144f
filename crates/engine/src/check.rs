//! Checking a snapshot: every enabled plugin that has the sections it needs
//! runs (concurrently) over the parts of the snapshot it declared; severity
//! overrides from the rule pack apply; the ranker orders the result.
//!
//! Every plugin ends in exactly one [`PluginStatus`], so the report accounts
//! for all of them: one that failed to load or to check is reported with its
//! reason, and never stops the others.

use std::collections::BTreeMap;

use crate::plans::PluginPlan;
use crate::runtime::{LoadFailure, LoadedPlugin, Runtime};
use perfsage_model::{Finding, Snapshot};
use perfsage_ranking::{CheckResult, PluginRun, PluginStatus, rank};

/// Check `snapshot` with the loaded plugins under their plans.
pub(crate) fn check_snapshot(
    runtime: &Runtime,
    plugins: &[LoadedPlugin],
    failures: &[LoadFailure],
    plans: &BTreeMap<String, PluginPlan>,
    snapshot: &Snapshot,
) -> CheckResult {
    let mut runs: Vec<PluginRun> = failures
        .iter()
        .map(|f| PluginRun {
            name: f.label.clone(),
            version: String::new(),
            origin: f.origin.to_string(),
            status: PluginStatus::Failed,
            findings: 0,
            error: Some(f.error.to_string()),
            note: None,
        })
        .collect();

    let mut runnable = Vec::new();
    for plugin in plugins {
        let plan = &plans[&plugin.info.name];
        let missing: Vec<&str> = plugin.info.needs.iter().filter(|s| !snapshot.has(**s)).map(|s| s.as_str()).collect();
        let status = if !plan.enabled {
            Some((PluginStatus::Disabled, "disabled in the rule pack".to_string()))
        } else if !missing.is_empty() {
            Some((PluginStatus::Skipped, format!("needs {}, absent from the snapshot", missing.join(", "))))
        } else {
            None
        };
        match status {
            Some((status, note)) => runs.push(plugin_run(plugin, status, 0, None, Some(note))),
            None => {
                let sections: Vec<_> = plugin.info.needs.iter().chain(&plugin.info.uses).copied().collect();
                runnable.push((plugin, snapshot.only(&sections), plan))
            }
        }
    }

    let jobs: Vec<_> = runnable.iter().map(|(p, s, plan)| (*p, s, plan.config.as_slice())).collect();
    let outcomes = runtime.check_many(&jobs);
    let mut findings: Vec<(String, Finding)> = Vec::new();
    for ((plugin, _, plan), outcome) in runnable.iter().zip(outcomes) {
        match outcome {
            Ok(found) => {
                runs.push(plugin_run(plugin, PluginStatus::Ok, found.len(), None, None));
                findings.extend(found.into_iter().map(|mut f| {
                    if let Some(severity) = plan.severity.get(&f.rule) {
                        f.severity = *severity;
                    }
                    (plugin.info.name.clone(), f)
                }));
            }
            Err(error) => runs.push(plugin_run(plugin, PluginStatus::Failed, 0, Some(error.to_string()), None)),
        }
    }
    runs.sort_by(|a, b| a.name.cmp(&b.name).then_with(|| a.origin.cmp(&b.origin)));
    CheckResult { findings: rank(findings), plugins: runs }
}

fn plugin_run(
    plugin: &LoadedPlugin,
    status: PluginStatus,
    findings: usize,
    error: Option<String>,
    note: Option<String>,
) -> PluginRun {
    PluginRun {
        name: plugin.info.name.clone(),
        version: plugin.info.version.clone(),
        origin: plugin.origin.to_string(),
        status,
        findings,
        error,
        note,
    }
}
