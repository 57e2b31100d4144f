//! The flow of each command: sources → snapshot → plugins → ranking → report.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, anyhow};

use clap::Args;

use super::args::{CollectArgs, OutputArgs, PluginArgs};
use super::exit::{Exit, Failure};
use crate::pack::RulePack;
use perfsage_engine::pins::{Lock, lock_path};
use perfsage_engine::runtime::PluginSource;
use perfsage_engine::runtime::cache::CompileCache;
use perfsage_engine::{Engine, EngineError, PluginSelection};
use perfsage_model::{ParamValue, Severity, Snapshot};
use perfsage_ranking::{CheckResult, Verdict};
use perfsage_reports::{Report, terminal_safe};
use perfsage_snapshot as snapshot;
use perfsage_sources::{self as sources, CollectOptions};

#[derive(Debug, Args)]
pub(super) struct RunArgs {
    #[command(flatten)]
    collect: CollectArgs,
    #[command(flatten)]
    plugins: PluginArgs,
    #[command(flatten)]
    output: OutputArgs,
}

#[derive(Debug, Args)]
pub(super) struct SnapshotArgs {
    /// Where to write the snapshot; `-` for standard output.
    #[arg(short, long, value_name = "FILE")]
    output: PathBuf,
    #[command(flatten)]
    collect: CollectArgs,
    /// Rule pack whose [collect] settings apply.
    #[arg(long, short = 'c', value_name = "FILE")]
    config: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub(super) struct CheckArgs {
    /// A snapshot written by `perfsage snapshot`.
    #[arg(value_name = "FILE")]
    snapshot: PathBuf,
    #[command(flatten)]
    plugins: PluginArgs,
    #[command(flatten)]
    output: OutputArgs,
}

#[derive(Debug, Args)]
pub(super) struct PluginListArgs {
    #[command(flatten)]
    plugins: PluginArgs,
    /// Also list each plugin's parameters with defaults, units and ranges.
    #[arg(long)]
    params: bool,
    /// Also list the rule pack's hook bindings with the parameters each accepts
    /// (types, ranges, allowlists): what any plugin may pass to them.
    #[arg(long)]
    hooks: bool,
}

pub fn run(args: RunArgs) -> Result<Exit, Failure> {
    let pack = RulePack::load(args.plugins.config.as_deref()).map_err(Failure::usage)?;
    let engine = load_engine(&args.plugins, &pack)?;
    let collected = collect(&args.collect, &pack)?;
    let result = engine.check(&collected.snapshot);
    let exit = report(result, &collected.snapshot, &args.output)?;
    Ok(if collected.failures.is_empty() { exit } else { Exit::Degraded })
}

pub fn snapshot(args: SnapshotArgs) -> Result<Exit, Failure> {
    let pack = RulePack::load(args.config.as_deref()).map_err(Failure::usage)?;
    let collected = collect(&args.collect, &pack)?;
    if args.output == Path::new("-") {
        let mut text = serde_json::to_string_pretty(&collected.snapshot).map_err(Failure::degraded)?;
        text.push('\n');
        write_stdout(&text)?;
    } else {
        snapshot::save(&args.output, &collected.snapshot).map_err(Failure::usage)?;
        eprintln!("perfsage: snapshot written to {}", args.output.display());
    }
    Ok(if collected.failures.is_empty() { Exit::Clean } else { Exit::Degraded })
}

pub fn check(args: CheckArgs) -> Result<Exit, Failure> {
    let pack = RulePack::load(args.plugins.config.as_deref()).map_err(Failure::usage)?;
    let snapshot = snapshot::load(&args.snapshot).map_err(Failure::usage)?;
    let engine = load_engine(&args.plugins, &pack)?;
    let result = engine.check(&snapshot);
    report(result, &snapshot, &args.output)
}

pub fn plugin_list(args: PluginListArgs) -> Result<Exit, Failure> {
    let pack = RulePack::load(args.plugins.config.as_deref()).map_err(Failure::usage)?;
    let engine = load_engine(&args.plugins, &pack)?;
    let mut builder = tabled::builder::Builder::default();
    builder.push_record(["Name", "Version", "Category", "Needs", "Origin", "Contract", "Status"]);
    for p in engine.loaded() {
        let needs: Vec<&str> = p.info.needs.iter().map(|s| s.as_str()).collect();
        let enabled = if engine.plans()[&p.info.name].enabled { "enabled" } else { "disabled" };
        builder.push_record([
            p.info.name.clone(),
            p.info.version.clone(),
            p.info.category.as_str().to_string(),
            needs.join(", "),
            p.origin.to_string(),
            p.contract.clone(),
            enabled.to_string(),
        ]);
    }
    for f in engine.failed() {
        builder.push_record([
            f.label.clone(),
            String::new(),
            String::new(),
            String::new(),
            f.origin.to_string(),
            String::new(),
            format!("failed: {}", f.error),
        ]);
    }
    let mut table = builder.build();
    table.with(tabled::settings::Style::rounded());
    let mut out = format!("{table}\n");
    if args.params {
        for p in engine.loaded() {
            out.push_str(&format!("\n{} — {}\n", p.info.name, p.info.description));
            for spec in &p.info.params {
                let range = match (spec.min, spec.max) {
                    (None, None) => String::new(),
                    (min, max) => format!(
                        " [{}..{}]",
                        min.map_or(String::new(), |v| v.to_string()),
                        max.map_or(String::new(), |v| v.to_string())
                    ),
                };
                let unit = if spec.unit.is_empty() { String::new() } else { format!(" {}", spec.unit) };
                out.push_str(&format!(
                    "  {} = {}{unit}{range}  {}\n",
                    spec.name,
                    param_value(&spec.default),
                    spec.description
                ));
            }
        }
    }
    if args.hooks {
        out.push_str(&hook_params(&pack));
    }
    // Names, descriptions and failure reasons come from plugins: escaped line by line.
    let out: String = out.lines().map(|line| format!("{}\n", terminal_safe(line))).collect();
    write_stdout(&out)?;
    Ok(if engine.failed().is_empty() { Exit::Clean } else { Exit::Degraded })
}

/// `plugin list --hooks`: each binding and the parameters a plugin may pass it.
fn hook_params(pack: &RulePack) -> String {
    let mut out = String::from("\nHooks (a parameter that does not match makes the action a manual step):\n");
    for (name, binding) in &pack.hooks {
        match binding.declared(name) {
            Ok(Some(declared)) if declared.is_empty() => out.push_str(&format!("  {name}: takes no parameters\n")),
            Ok(Some(declared)) => {
                out.push_str(&format!("  {name}:\n"));
                for (key, kind) in &declared {
                    out.push_str(&format!("    {key}: {kind}\n"));
                }
            }
            Ok(None) => out.push_str(&format!("  {name}: declares no parameters: takes none\n")),
            Err(e) => out.push_str(&format!("  {name}: {e}\n")),
        }
    }
    out
}

fn param_value(value: &ParamValue) -> String {
    match value {
        ParamValue::Number(v) => v.to_string(),
        ParamValue::Integer(v) => v.to_string(),
        ParamValue::Text(v) => format!("{v:?}"),
        ParamValue::Flag(v) => v.to_string(),
    }
}

/// Load the engine a command checks with: the built-in plugins (unless
/// `--no-builtin`), the external files, their pins and the compile cache.
pub(super) fn load_engine(args: &PluginArgs, pack: &RulePack) -> Result<Engine, Failure> {
    let selection = PluginSelection {
        sources: if args.no_builtin { Vec::new() } else { PluginSource::builtins(perfsage_builtin::PLUGINS) },
        paths: external_plugin_paths(args)?,
        lock: pin_lock(args)?,
        cache_root: if args.no_cache { None } else { args.cache_dir.clone().or_else(CompileCache::default_root) },
    };
    let engine = Engine::load(pack.limits(), selection, &pack.plugins).map_err(|e| match e {
        EngineError::Runtime(_) => Failure::degraded(e),
        EngineError::Plan(_) => Failure::usage(e),
    })?;
    for p in engine.loaded() {
        log::info!(
            "loaded plugin {} {} ({}, cache {:?})",
            terminal_safe(&p.info.name),
            terminal_safe(&p.info.version),
            p.origin,
            p.cache
        );
    }
    Ok(engine)
}

/// The exit code of a verdict.
pub(super) fn exit_of(verdict: Verdict) -> Exit {
    match verdict {
        Verdict::Clean => Exit::Clean,
        Verdict::AtThreshold => Exit::FindingsAtThreshold,
        Verdict::Incomplete => Exit::Degraded,
    }
}

/// The lock file in force, if any: one named by `--lock` must exist; one
/// beside `--config` applies when it exists.
fn pin_lock(args: &PluginArgs) -> Result<Option<Lock>, Failure> {
    let Some(path) = lock_path(args.lock.as_deref(), args.config.as_deref()) else { return Ok(None) };
    let lock = Lock::read(&path).map_err(Failure::usage)?;
    if lock.is_none() && args.lock.is_some() {
        return Err(Failure::usage(anyhow!(
            "--lock {}: no such lock file (write it with `perfsage plugin pin --lock {0}`)",
            path.display()
        )));
    }
    Ok(lock)
}

/// `--plugin` files (which must exist) and the `*.wasm` files of `--plugins-dir`, sorted.
pub(super) fn external_plugin_paths(args: &PluginArgs) -> Result<Vec<PathBuf>, Failure> {
    let mut paths = Vec::new();
    for path in &args.plugin {
        if !path.exists() {
            return Err(Failure::usage(anyhow!("--plugin {}: no such file", path.display())));
        }
        paths.push(path.clone());
    }
    if let Some(dir) = &args.plugins_dir {
        let entries = std::fs::read_dir(dir)
            .with_context(|| format!("--plugins-dir {}", dir.display()))
            .map_err(Failure::usage)?;
        let mut found: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|ext| ext == "wasm"))
            .collect();
        found.sort();
        paths.extend(found);
    }
    Ok(paths)
}

pub(super) fn collect_options(args: &CollectArgs, pack: &RulePack) -> Result<CollectOptions, Failure> {
    if !args.probe.is_empty() {
        sources::probe::validate(&args.probe).map_err(Failure::usage)?;
    }
    let probe_options = sources::probe::ProbeOptions::new(args.probe_connections, args.probe_duration);
    let access_log = pack.access_log.clone();
    // A bad [access_log] section is the user's to fix, before anything is measured.
    sources::access_log::AccessLogSource::new(&access_log).map_err(Failure::usage)?;
    let parse_target = |text: &String, flag: &str| {
        sources::prometheus::scrape::ScrapeTarget::parse(text)
            .with_context(|| format!("{flag} {text}"))
            .map_err(Failure::usage)
    };
    let scrape = args.scrape.iter().map(|t| parse_target(t, "--scrape")).collect::<Result<Vec<_>, _>>()?;
    let scrape_host = args.scrape_host.as_ref().map(|t| parse_target(t, "--scrape-host")).transpose()?;
    let options = CollectOptions {
        window: args.window.unwrap_or(std::time::Duration::from_millis(pack.collect.window_ms)),
        top_processes: pack.collect.top_processes,
        probe: args.probe.clone(),
        probe_options,
        access_logs: args.access_log.clone(),
        access_log,
        postgres: pack.sources.postgres.iter().chain(&args.postgres).cloned().collect(),
        mysql: pack.sources.mysql.iter().chain(&args.mysql).cloned().collect(),
        source_timeout: match args.source_timeout {
            Some(timeout) if timeout < std::time::Duration::from_millis(100) => {
                return Err(Failure::usage(anyhow!("--source-timeout must be at least 100ms")));
            }
            Some(timeout) => timeout,
            None => std::time::Duration::from_millis(pack.sources.timeout_ms),
        },
        slow_logs: args.slow_log.clone(),
        slow_log: pack.slow_log.clone(),
        scrape,
        scrape_host,
        prometheus: pack.prometheus.clone(),
    };
    Ok(options)
}

/// Collect with the command line's and the rule pack's sources; log what went
/// wrong (a failed source with its cause chain) and carry on.
pub(super) fn collect(args: &CollectArgs, pack: &RulePack) -> Result<sources::Collected, Failure> {
    let collected = sources::collect(&collect_options(args, pack)?)
        .map_err(|e| Failure::degraded(anyhow::Error::new(e).context("collecting failed")))?;
    for warning in &collected.warnings {
        log::warn!("{warning}");
    }
    for failure in &collected.failures {
        log::error!("a source failed, the run goes on without it: {failure}");
    }
    Ok(collected)
}

/// Print the report and decide the exit code.
fn report(result: CheckResult, snapshot: &Snapshot, output: &OutputArgs) -> Result<Exit, Failure> {
    let verdict = result.verdict(output.fail_on.map(Severity::from));
    let report = Report::new(result, snapshot.meta.clone());
    let color = std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    write_stdout(&report.render(output.format.into(), color))?;
    Ok(exit_of(verdict))
}

/// Write to stdout; a closed pipe (`| head`) is not an error worth a message.
pub(super) fn write_stdout(text: &str) -> Result<(), Failure> {
    let mut stdout = std::io::stdout().lock();
    match stdout.write_all(text.as_bytes()).and_then(|_| stdout.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(Failure::degraded(e)),
        _ => Ok(()),
    }
}
