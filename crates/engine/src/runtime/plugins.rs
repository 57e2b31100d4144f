//! Loading plugins and calling them, one fresh store per call.

use std::collections::BTreeSet;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;

use wasmtime::component::{Component, HasSelf, Linker};
use wasmtime::{Config, Engine, Store, StoreContextMut, Trap};

use super::cache::{CacheUse, CompileCache, sha256_hex};
use super::error::PluginError;
use super::sandbox::{EpochTicker, Limits, MAX_LOG_BYTES, MAX_LOG_CALLS, PluginState, deadline_ticks};
use super::source::{Origin, PluginSource};
use super::validate;
use perfsage_model::world::{Plugin, PluginHost, PluginPre};
use perfsage_model::{CONTRACT_VERSION, ConfigEntry, Finding, RuleInfo, Snapshot};

const EXPORT_PREFIX: &str = "perfsage:rule/rule@";
const HOST_IMPORT_PREFIX: &str = "perfsage:rule/host@";

/// A plugin ready to be checked: compiled, linked, and described.
pub struct LoadedPlugin {
    pub info: RuleInfo,
    pub origin: Origin,
    pub sha256: String,
    /// The contract version the plugin was built against (compatible with the host's).
    pub contract: String,
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
    /// Host interface names bound for plugins of other compatible contract versions.
    host_aliases: BTreeSet<String>,
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
        let cache = cache_root.and_then(|root| match CompileCache::open(root, &engine) {
            Ok(cache) => Some(cache),
            Err(e) => {
                // Not fatal: every plugin is compiled afresh and nothing is stored.
                log::warn!("compile cache disabled for this run: {e}");
                None
            }
        });
        let ticker = EpochTicker::start(&engine);
        Ok(Runtime { engine, linker, limits, cache, host_aliases: BTreeSet::new(), _ticker: ticker })
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
            Some(cache) => cache.load_or_compile(&self.engine, &source.label, &sha256, &source.bytes),
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
        let contract = check_contract(&self.engine, &component)?;
        self.alias_host_interface(&component).map_err(|e| PluginError::Instantiate(root_cause(&e)))?;
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
        Ok(LoadedPlugin { info, origin: source.origin.clone(), sha256, contract, cache, pre })
    }

    /// A plugin built against another compatible contract version imports the
    /// host interface under that version's name. Instantiation would find the
    /// host's by semver, but the trap stubs (which re-open instances by exact
    /// name) would shadow it; so bind the host's `log` under the plugin's name.
    fn alias_host_interface(&mut self, component: &Component) -> wasmtime::Result<()> {
        let ty = component.component_type();
        let imports: Vec<String> = ty.imports(&self.engine).map(|(name, _)| name.to_string()).collect();
        for name in imports {
            let Some(version) = name.strip_prefix(HOST_IMPORT_PREFIX) else { continue };
            if version == CONTRACT_VERSION || !contract_compatible(version, CONTRACT_VERSION) {
                continue;
            }
            if self.host_aliases.insert(name.clone()) {
                self.linker.instance(&name)?.func_wrap(
                    "log",
                    |mut store: StoreContextMut<'_, PluginState>, (message,): (String,)| {
                        PluginHost::log(store.data_mut(), message)
                    },
                )?;
            }
        }
        Ok(())
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

    /// Name the cause of a failed call: deadline, memory budget, another
    /// sandbox limit, a log flood, or a plain trap.
    fn classify(&self, error: wasmtime::Error, state: PluginState) -> PluginError {
        if error.downcast_ref::<Trap>() == Some(&Trap::Interrupt) {
            return PluginError::DeadlineExceeded(self.limits.deadline);
        }
        if state.memory_refused {
            return PluginError::MemoryExceeded(self.limits.memory_bytes);
        }
        if state.log_refused {
            return PluginError::LogFlood { calls: MAX_LOG_CALLS, bytes: MAX_LOG_BYTES };
        }
        let limits = &self.limits;
        if state.table_elements_refused {
            return PluginError::SandboxLimit(format!(
                "its tables need more than {} elements in total",
                limits.max_table_elements
            ));
        }
        let reason = root_cause(&error);
        // wasmtime refuses an instance, memory or table past the limiter's
        // counts with "resource limit exceeded: <kind> count too high at <n>".
        if let Some(at) = reason.find("resource limit exceeded: ") {
            let what = reason[at + "resource limit exceeded: ".len()..].split(':').next().unwrap_or_default();
            return PluginError::SandboxLimit(format!(
                "{what} (the sandbox allows {} instances, {} memories, {} tables)",
                limits.max_instances, limits.max_memories, limits.max_tables
            ));
        }
        PluginError::Trapped { reason, log: state.log }
    }
}

/// The plugin must export the rule interface at a version compatible with the
/// one this host speaks (see [`contract_compatible`]). The generated bindings
/// then find that export by wasmtime's own semver-compatible name lookup (the
/// host's `perfsage:rule/rule@0.1.1` resolves a plugin's `@0.1.0` export), and
/// instantiation checks the types structurally; the host's `log` import is
/// matched the same way.
fn check_contract(engine: &Engine, component: &Component) -> Result<String, PluginError> {
    let ty = component.component_type();
    let exports: Vec<String> = ty.exports(engine).map(|(name, _)| name.to_string()).collect();
    let found = exports.iter().find_map(|name| {
        name.strip_prefix(EXPORT_PREFIX)
            .map(str::to_string)
            .or_else(|| (name == "perfsage:rule/rule").then(|| "(unversioned)".to_string()))
    });
    match found {
        Some(found) if contract_compatible(&found, CONTRACT_VERSION) => Ok(found),
        Some(found) => Err(PluginError::IncompatibleContract { found, supported: CONTRACT_VERSION.into() }),
        None => Err(PluginError::NotARulePlugin(if exports.is_empty() { "none".into() } else { exports.join(", ") })),
    }
}

/// Semver compatibility of two contract versions, the rule wasmtime's name
/// lookup follows: the same major version, or for 0.x the same minor (0.0.x
/// only with itself); pre-releases only with themselves.
fn contract_compatible(plugin: &str, host: &str) -> bool {
    let (Ok(plugin), Ok(host)) = (semver::Version::parse(plugin), semver::Version::parse(host)) else {
        return false;
    };
    if !plugin.pre.is_empty() || !host.pre.is_empty() {
        return plugin == host;
    }
    match (host.major, host.minor) {
        (0, 0) => plugin == host,
        (0, minor) => plugin.major == 0 && plugin.minor == minor,
        (major, _) => plugin.major == major,
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The instance cap is enforced per store: a real built-in plugin, which
    /// needs a few core instances, is refused with the cap named.
    #[test]
    fn a_component_needing_more_instances_than_allowed_is_refused() {
        let limits = Limits { max_instances: 1, ..Limits::default() };
        let mut runtime = Runtime::new(limits, None).unwrap();
        let cpu = PluginSource::builtins(perfsage_builtin::PLUGINS).into_iter().find(|p| p.label == "cpu").unwrap();
        let (loaded, failed) = runtime.load_all(vec![cpu.clone()]);
        assert!(loaded.is_empty());
        let error = failed[0].error.to_string();
        assert!(
            error.starts_with(
                "exceeded a sandbox limit and was stopped: instance count too high at 2 (the sandbox allows 1 instances"
            ),
            "{error}"
        );
        // The default caps leave room for it.
        let mut runtime = Runtime::new(Limits::default(), None).unwrap();
        let (loaded, failed) = runtime.load_all(vec![cpu]);
        assert!(failed.is_empty() && loaded.len() == 1);
    }

    #[test]
    fn contract_versions_are_compatible_by_semver() {
        for (plugin, host) in
            [("0.1.0", "0.1.1"), ("0.1.1", "0.1.0"), ("0.1.0", "0.1.0"), ("1.0.0", "1.4.2"), ("1.9.0", "1.0.0")]
        {
            assert!(contract_compatible(plugin, host), "{plugin} on {host}");
        }
        for (plugin, host) in [
            ("0.2.0", "0.1.1"),
            ("1.0.0", "0.1.1"),
            ("0.1.0", "1.0.0"),
            ("2.0.0", "1.0.0"),
            ("0.0.1", "0.0.2"),
            ("0.1.0-rc.1", "0.1.0"),
            ("(unversioned)", "0.1.0"),
        ] {
            assert!(!contract_compatible(plugin, host), "{plugin} on {host}");
        }
    }
}
