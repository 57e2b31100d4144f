//! `perfsage plugin test PLUGIN --cases FILE...`: run a plugin's case files
//! through the real sandbox and report each case, as text (with the
//! differences under each failing case) or as JUnit XML for CI.
//!
//! Exit codes follow the rest of the CLI: 0 every case passed, 1 a case
//! failed (a plugin that traps or errors in a case fails that case), 2 a case
//! file or its configuration is invalid, 3 the plugin could not be loaded.

use std::path::PathBuf;

use anyhow::anyhow;
use clap::{Args, ValueEnum};

use super::commands::write_stdout;
use super::exit::{Exit, Failure};
use crate::pack::RulePack;
use perfsage_engine::cases::{CaseFileOutcome, render_junit, render_text, run_case_file};
use perfsage_engine::runtime::PluginSource;
use perfsage_engine::runtime::cache::CompileCache;
use perfsage_engine::{Engine, PluginSelection};

#[derive(Debug, Args)]
pub struct PluginTestArgs {
    /// The plugin under test: a `.wasm` component, or the name of a built-in plugin.
    #[arg(value_name = "PLUGIN")]
    plugin: String,
    /// A case file (TOML); repeatable.
    #[arg(long = "cases", value_name = "FILE", required = true)]
    cases: Vec<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = CaseFormat::Text)]
    format: CaseFormat,
    /// Rule pack whose [runtime] limits apply [default: the built-in pack's].
    #[arg(long, short = 'c', value_name = "FILE")]
    config: Option<PathBuf>,
    /// Where compiled plugins are cached [default: $XDG_CACHE_HOME/perfsage].
    #[arg(long, value_name = "DIR", env = "PERFSAGE_CACHE_DIR")]
    cache_dir: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum CaseFormat {
    Text,
    Junit,
}

pub fn plugin_test(args: PluginTestArgs) -> Result<Exit, Failure> {
    let pack = RulePack::load(args.config.as_deref()).map_err(Failure::usage)?;
    let source = plugin_source(&args.plugin)?;
    let selection = PluginSelection {
        sources: vec![source],
        cache_root: args.cache_dir.clone().or_else(CompileCache::default_root),
        ..PluginSelection::default()
    };
    // Case files carry their own parameters: no `[plugins.*]` applies.
    let engine = Engine::load(pack.limits(), selection, &Default::default()).map_err(Failure::degraded)?;
    if let Some(failure) = engine.failed().first() {
        return Err(Failure::degraded(anyhow!("plugin {} ({}) {}", failure.label, failure.origin, failure.error)));
    }
    let plugin = &engine.loaded()[0];
    let mut files = Vec::new();
    for path in &args.cases {
        let outcomes = run_case_file(engine.runtime(), plugin, path).map_err(Failure::usage)?;
        files.push(CaseFileOutcome { path: path.clone(), plugin: plugin.info.name.clone(), outcomes });
    }
    let text = match args.format {
        CaseFormat::Text => render_text(&files),
        CaseFormat::Junit => render_junit(&files).map_err(Failure::degraded)?,
    };
    write_stdout(&text)?;
    let any_failed = files.iter().any(|f| f.failed() > 0);
    Ok(if any_failed { Exit::FindingsAtThreshold } else { Exit::Clean })
}

/// A path to a component, or else the name of a built-in plugin.
fn plugin_source(plugin: &str) -> Result<PluginSource, Failure> {
    let path = PathBuf::from(plugin);
    if path.exists() {
        return PluginSource::from_path(&path).map_err(|(_, error)| Failure::usage(error));
    }
    let builtins = PluginSource::builtins(perfsage_builtin::PLUGINS);
    let names: Vec<String> = builtins.iter().map(|b| b.label.clone()).collect();
    builtins.into_iter().find(|b| b.label == plugin).ok_or_else(|| {
        Failure::usage(anyhow!("{plugin}: no such file, nor a built-in plugin (built-ins: {})", names.join(", ")))
    })
}
