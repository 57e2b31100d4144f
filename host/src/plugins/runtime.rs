//! Loading plugins and calling them, one fresh store per call.

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;

use wasmtime::component::{Component, HasSelf, Linker};
use wasmtime::{Config, Engine, Store, Trap};

use super::cache::{CacheUse, CompileCache, sha256_hex};
use super::sandbox::{EpochTicker, Limits, PluginState, deadline_ticks};
use super::{Origin, PluginError, PluginSource, validate};
use crate::model::{CONTRACT_VERSION, ConfigEntry, Finding, Plugin, PluginPre, RuleInfo, Snapshot};

const EXPORT_PREFIX: &str = "perfsage:rule/rule@";

/// A plugin ready to be checked: compiled, linked, and described.
pub struct LoadedPlugin {
    pub info: RuleInfo,
    pub origin: Origin,
    pub sha256: String,
    pub cache: CacheUse,
    pre: PluginPre<PluginState>,
}

/// A plugin that could not be loaded; reported as a failed plugin.
#[derive(Debug, Clone)]
pub struct LoadFailure {
    pub label: String,
    pub origin: Origin,
    pub error: PluginError,
}

/// The result of one check call.
pub type CheckOutcome = Result<Vec<Finding>, PluginError>;

/// One engine, one linker, and the limits every call runs under.
pub struct Runtime {
    engine: Engine,
    linker: Linker<PluginState>,
    limits: Limits,
    cache: Option<CompileCache>,
    _ticker: EpochTicker,
}

impl Runtime {
    /// A runtime with the given limits; `cache_root` enables the compile cache.
    pub fn new(limits: Limits, cache_root: Option<&std::path::Path>) -> anyhow::Result<Self> {
        let mut config = Config::new();
        config.wasm_component_model(true);
        config.epoch_interruption(true);
        config.max_wasm_stack(1 << 20);
        let engine = Engine::new(&config)?;
        let mut linker = Linker::new(&engine);
        Plugin::add_to_linker::<PluginState, HasSelf<PluginState>>(&mut linker, |state| state)?;
        let cache = cache_root.map(|root| CompileCache::new(root, &engine));
        let ticker = EpochTicker::start(&engine);
        Ok(Runtime { engine, linker, limits, cache, _ticker: ticker })
    }

    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Load plugins: compile (or fetch from the cache) in parallel, then link
    /// and describe each. Every source ends up either loaded or failed, in the
    /// order given; a name already taken by an earlier plugin is a failure.
    pub fn load_all(&mut self, sources: Vec<PluginSource>) -> (Vec<LoadedPlugin>, Vec<LoadFailure>) {
        let compiled = parallel_map(&sources, |source| self.compile(source));
        let mut loaded: Vec<LoadedPlugin> = Vec::new();
        let mut failed = Vec::new();
        for (source, compiled) in sources.into_iter().zip(compiled) {
            let fail = |error| LoadFailure { label: source.label.clone(), origin: source.origin.clone(), error };
            let result = compiled.and_then(|(component, sha256, cache)| {
                let plugin = self.link(&source, component, sha256, cache)?;
                if let Some(other) = loaded.iter().find(|p| p.info.name == plugin.info.name) {
                    return Err(PluginError::DuplicateName { name: plugin.info.name, other: other.origin.to_string() });
                }
                Ok(plugin)
            });
            match result {
                Ok(plugin) => loaded.push(plugin),
                Err(error) => failed.push(fail(error)),
            }
        }
        (loaded, failed)
    }

    fn compile(&self, source: &PluginSource) -> Result<(Component, String, CacheUse), PluginError> {
        if !source.bytes.starts_with(b"\0asm") {
            return Err(PluginError::NotAComponent("the file does not start with the Wasm magic bytes".into()));
        }
        let sha256 = sha256_hex(&source.bytes);
        let compiled = match &self.cache {
            Some(cache) => cache.load_or_compile(&self.engine, &sha256, &source.bytes),
            None => Component::new(&self.engine, &source.bytes[..]).map(|c| (c, CacheUse::Disabled)),
        };
        let (component, cache) = compiled.map_err(|e| PluginError::NotAComponent(root_cause(&e)))?;
        Ok((component, sha256, cache))
    }

    fn link(
        &mut self,
        source: &PluginSource,
        component: Component,
        sha256: String,
        cache: CacheUse,
    ) -> Result<LoadedPlugin, PluginError> {
        check_contract(&self.engine, &component)?;
        // The WASI imports that Rust's standard library links are bound to
        // traps: a plugin that touches them fails instead of getting a capability.
        self.linker
            .define_unknown_imports_as_traps(&component)
            .map_err(|e| PluginError::Instantiate(root_cause(&e)))?;
        let instance_pre =
            self.linker.instantiate_pre(&component).map_err(|e| PluginError::Instantiate(root_cause(&e)))?;
        let pre = PluginPre::new(instance_pre).map_err(|e| PluginError::Instantiate(root_cause(&e)))?;
        let info = self.call(&pre, |plugin, store| plugin.perfsage_rule_rule().call_describe(store))?;
        validate::rule_info(&info, &self.limits)?;
        Ok(LoadedPlugin { info, origin: source.origin.clone(), sha256, cache, pre })
    }

    /// Check one snapshot with one plugin.
    pub fn check(&self, plugin: &LoadedPlugin, snapshot: &Snapshot, config: &[ConfigEntry]) -> CheckOutcome {
        let findings = self.call(&plugin.pre, |p, store| p.perfsage_rule_rule().call_check(store, snapshot, config))?;
        let findings = findings
            .map_err(|message| PluginError::RuleError(message.chars().take(self.limits.max_string_bytes).collect()))?;
        validate::findings(&findings, &self.limits)?;
        Ok(findings)
    }

    /// Run several checks, concurrently where cores allow; results in job order.
    pub fn check_many(&self, jobs: &[(&LoadedPlugin, &Snapshot, &[ConfigEntry])]) -> Vec<CheckOutcome> {
        parallel_map(jobs, |(plugin, snapshot, config)| self.check(plugin, snapshot, config))
    }

    /// Instantiate into a fresh store under the limits and make one call.
    fn call<R>(
        &self,
        pre: &PluginPre<PluginState>,
        f: impl FnOnce(&Plugin, &mut Store<PluginState>) -> wasmtime::Result<R>,
    ) -> Result<R, PluginError> {
        let mut store = Store::new(&self.engine, PluginState::new(&self.limits));
        store.limiter(|state| state);
        store.set_epoch_deadline(deadline_ticks(self.limits.deadline));
        let result = pre.instantiate(&mut store).and_then(|plugin| f(&plugin, &mut store));
        result.map_err(|error| self.classify(error, store.into_data()))
    }

    /// Name the cause of a failed call: deadline, memory cap, or a plain trap.
    fn classify(&self, error: wasmtime::Error, state: PluginState) -> PluginError {
        if error.downcast_ref::<Trap>() == Some(&Trap::Interrupt) {
            return PluginError::DeadlineExceeded(self.limits.deadline);
        }
        if state.memory_refused {
            return PluginError::MemoryExceeded(self.limits.memory_bytes);
        }
        PluginError::Trapped { reason: root_cause(&error), log: state.log }
    }
}

/// The plugin must export the rule interface at the version this host speaks.
fn check_contract(engine: &Engine, component: &Component) -> Result<(), PluginError> {
    let ty = component.component_type();
    let exports: Vec<String> = ty.exports(engine).map(|(name, _)| name.to_string()).collect();
    let expected = format!("{EXPORT_PREFIX}{CONTRACT_VERSION}");
    if exports.contains(&expected) {
        return Ok(());
    }
    let found = exports.iter().find_map(|name| {
        name.strip_prefix(EXPORT_PREFIX)
            .map(str::to_string)
            .or_else(|| (name == "perfsage:rule/rule").then(|| "(unversioned)".to_string()))
    });
    match found {
        Some(found) => Err(PluginError::IncompatibleContract { found, supported: CONTRACT_VERSION.into() }),
        None => Err(PluginError::NotARulePlugin(if exports.is_empty() { "none".into() } else { exports.join(", ") })),
    }
}

/// A wasmtime error chain on one line, outermost first, without backtraces.
fn root_cause(error: &wasmtime::Error) -> String {
    error.chain().map(|e| e.to_string()).collect::<Vec<_>>().join(": ")
}

/// Map `f` over `items` on up to one thread per core; results in input order.
fn parallel_map<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let workers = thread::available_parallelism().map_or(1, |n| n.get()).min(items.len());
    if workers <= 1 {
        return items.iter().map(&f).collect();
    }
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<R>>> = Mutex::new((0..items.len()).map(|_| None).collect());
    thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(item) = items.get(i) else { break };
                    let result = f(item);
                    results.lock().unwrap()[i] = Some(result);
                }
            });
        }
    });
    results.into_inner().unwrap().into_iter().map(|r| r.expect("every item was processed")).collect()
}
