//! The engine façade: load a rule pack's plugins once, then check snapshots.
//!
//! Every command that checks (`run`, `check`, `audit`, `fleet`, `plan`,
//! `apply`), the benchmarks and the tests go through [`Engine`]: the sequence
//! (pick the plugins, verify pins, start the runtime, load and compile, resolve
//! the pack's settings against what each plugin declares) exists once.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Instant;

use perfsage_model::Snapshot;
use perfsage_ranking::CheckResult;

use crate::check::check_snapshot;
use crate::pins::Lock;
use crate::plans::{self, PlanError, PluginPlan, PluginSettings};
use crate::runtime::{Limits, LoadFailure, LoadedPlugin, Origin, PluginSource, Runtime};

/// Which plugins an engine loads, and from where it may reuse compiled code.
#[derive(Debug, Default)]
pub struct PluginSelection {
    /// Plugins already in memory: the built-ins (`PluginSource::builtins`), or none.
    pub sources: Vec<PluginSource>,
    /// External plugin files, in load order.
    pub paths: Vec<PathBuf>,
    /// Pins the external files must match, when a lock file is in force.
    pub lock: Option<Lock>,
    /// The compile cache's root; `None` compiles every plugin afresh.
    pub cache_root: Option<PathBuf>,
}

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The Wasm runtime itself could not start (no plugin is to blame).
    #[error("cannot start the plugin runtime: {0:#}")]
    Runtime(anyhow::Error),
    /// The rule pack's `[plugins.*]` do not fit the loaded plugins.
    #[error(transparent)]
    Plan(#[from] PlanError),
}

/// Loaded plugins with their plans, ready to check any number of snapshots.
/// `Sync`: a fleet checks many instances on scoped threads through one engine.
pub struct Engine {
    runtime: Runtime,
    loaded: Vec<LoadedPlugin>,
    failed: Vec<LoadFailure>,
    plans: BTreeMap<String, PluginPlan>,
}

impl Engine {
    /// Load the selected plugins under `limits` and resolve `settings` (the
    /// pack's `[plugins.*]`) against them. A plugin that fails to load, or
    /// whose pin does not match, is kept as a failure and reported by every
    /// check; it never stops the others.
    pub fn load(
        limits: Limits,
        selection: PluginSelection,
        settings: &BTreeMap<String, PluginSettings>,
    ) -> Result<Engine, EngineError> {
        let PluginSelection { mut sources, paths, lock, cache_root } = selection;
        let mut failed = Vec::new();
        for path in paths {
            let pinned = |source: PluginSource| match &lock {
                Some(lock) => match lock.verify(&path, &source.bytes) {
                    Ok(()) => Ok(source),
                    Err(error) => Err((source.label, error)),
                },
                None => Ok(source),
            };
            match PluginSource::from_path(&path).and_then(pinned) {
                Ok(source) => sources.push(source),
                Err((label, error)) => failed.push(LoadFailure { label, origin: Origin::Path(path), error }),
            }
        }
        let mut runtime = Runtime::new(limits, cache_root.as_deref()).map_err(EngineError::Runtime)?;
        let started = Instant::now();
        let (loaded, load_failures) = runtime.load_all(sources);
        failed.extend(load_failures);
        log::info!("loaded {} plugins in {:?}", loaded.len(), started.elapsed());
        let infos: Vec<_> = loaded.iter().map(|p| &p.info).collect();
        let labels: Vec<String> = failed.iter().map(|f| f.label.clone()).collect();
        let plans = plans::plan(settings, &infos, &labels)?;
        Ok(Engine { runtime, loaded, failed, plans })
    }

    /// Check `snapshot` with every loaded plugin under its plan.
    pub fn check(&self, snapshot: &Snapshot) -> CheckResult {
        let started = Instant::now();
        let result = check_snapshot(&self.runtime, &self.loaded, &self.failed, &self.plans, snapshot);
        log::debug!("checked with {} plugins in {:?}", self.loaded.len(), started.elapsed());
        result
    }

    /// The plugins that loaded, in load order.
    pub fn loaded(&self) -> &[LoadedPlugin] {
        &self.loaded
    }

    /// The plugins that did not load, with their reasons.
    pub fn failed(&self) -> &[LoadFailure] {
        &self.failed
    }

    /// Each loaded plugin's plan, by name.
    pub fn plans(&self) -> &BTreeMap<String, PluginPlan> {
        &self.plans
    }

    /// The runtime, for callers that run one plugin directly (rule test cases).
    pub fn runtime(&self) -> &Runtime {
        &self.runtime
    }
}
