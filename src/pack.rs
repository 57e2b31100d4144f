//! The rule pack: the one TOML file that says which plugins run, with which
//! parameters, under which limits, how sources are read and what each hook
//! name runs.
//!
//! Each section's type belongs to the layer it configures (`[runtime]` and
//! `[plugins.*]` to the engine, `[collect]`, `[sources]`, `[access_log]`,
//! `[slow_log]` and `[prometheus]` to the sources, `[hooks.*]` to the actions);
//! this module only puts them together. Parsing is strict
//! (`deny_unknown_fields` all the way down): a misspelt key is an error, not
//! a silently ignored setting.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use perfsage_actions::hooks::HookBinding;
use perfsage_engine::plans::{PlanError, PluginSettings, RuntimeSettings};
use perfsage_engine::runtime::Limits;
use perfsage_pack::DEFAULT_RULE_PACK;
use perfsage_sources::access_log::AccessLogSettings;
use perfsage_sources::digest::SlowLogSettings;
use perfsage_sources::prometheus::PrometheusSettings;
use perfsage_sources::{CollectSettings, SourceSettings};

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RulePack {
    #[serde(default)]
    pub runtime: RuntimeSettings,
    #[serde(default)]
    pub collect: CollectSettings,
    /// Database servers to read besides this machine.
    #[serde(default)]
    pub sources: SourceSettings,
    #[serde(default)]
    pub plugins: BTreeMap<String, PluginSettings>,
    /// Hook name to what runs it (see `perfsage_actions::hooks`).
    #[serde(default)]
    pub hooks: BTreeMap<String, HookBinding>,
    /// The pack file's directory, against which relative hook commands
    /// resolve; `None` for the built-in pack.
    #[serde(skip)]
    pub dir: Option<PathBuf>,
    /// How access logs are read (`run --access-log`, `perfsage logs`).
    #[serde(default)]
    pub access_log: AccessLogSettings,
    /// How slow query logs are digested (`run --slow-log`, `perfsage digest`).
    #[serde(default)]
    pub slow_log: SlowLogSettings,
    /// `[prometheus]` as written; merged key by key over the default pack's
    /// section into [`RulePack::prometheus`] (see `sources::prometheus::settings`).
    #[serde(default, rename = "prometheus")]
    prometheus_table: toml::Table,
    /// Metric names and PromQL for `run --scrape` and `perfsage fleet`.
    #[serde(skip)]
    pub prometheus: PrometheusSettings,
}

#[derive(Debug, thiserror::Error)]
pub enum RulePackError {
    #[error("cannot read the rule pack {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("{origin} is not a valid rule pack: {message}")]
    Parse { origin: String, message: String },
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Plan(#[from] PlanError),
}

impl RulePack {
    /// Parse a rule pack; `origin` names it in errors.
    pub fn parse(text: &str, origin: &str) -> Result<Self, RulePackError> {
        let mut pack: RulePack =
            toml::from_str(text).map_err(|e| RulePackError::Parse { origin: origin.into(), message: e.to_string() })?;
        pack.prometheus = PrometheusSettings::from_pack_table(&pack.prometheus_table)
            .map_err(|e| RulePackError::Parse { origin: origin.into(), message: e.to_string() })?;
        pack.check_settings()?;
        Ok(pack)
    }

    /// Read a rule pack file, or the default pack when `path` is `None`.
    pub fn load(path: Option<&Path>) -> Result<Self, RulePackError> {
        match path {
            None => Self::parse(DEFAULT_RULE_PACK, "the default rule pack"),
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|source| RulePackError::Read { path: path.into(), source })?;
                let mut pack = Self::parse(&text, &path.display().to_string())?;
                let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
                pack.dir = Some(std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf()));
                Ok(pack)
            }
        }
    }

    fn check_settings(&self) -> Result<(), RulePackError> {
        self.runtime.check()?;
        self.collect.check().map_err(RulePackError::Invalid)?;
        self.sources.check().map_err(RulePackError::Invalid)?;
        for (name, binding) in &self.hooks {
            binding.validate(name).map_err(RulePackError::Invalid)?;
        }
        Ok(())
    }

    /// The sandbox limits this pack sets.
    pub fn limits(&self) -> Limits {
        self.runtime.limits()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_pack_parses() {
        let pack = RulePack::load(None).unwrap();
        assert_eq!(pack.limits(), Limits::default());
        assert_eq!(pack.sources.timeout_ms, 30_000, "a database source has 30 s unless told otherwise");
    }

    #[test]
    fn errors_name_the_section_the_key_and_the_expectation() {
        // Plugin parameters are checked against the plugins (engine::plans's
        // tests); everything else when the pack is read.
        let cases = [
            ("[plugins.cpu]\nseverity = { \"cpu/x\" = \"urgent\" }", "unknown variant `urgent`"),
            ("[plugins.cpu]\nenable = false", "unknown field `enable`"),
            ("[runtime]\ndeadline = 5", "unknown field `deadline`"),
            ("[runtime]\ndeadline_ms = 0", "runtime.deadline_ms must be 1..=600000"),
            ("[collect]\nwindow_ms = 1", "collect.window_ms must be 10..=600000"),
            ("[sources]\ntimeout_ms = 10", "sources.timeout_ms must be 100..=600000"),
            ("[prometheus.node]\ncpu = \"x\"", "[prometheus]: unknown field `cpu`"),
            ("[no_such_section]", "unknown field `no_such_section`"),
        ];
        for (text, expected) in cases {
            let message = RulePack::parse(text, "test").unwrap_err().to_string();
            assert!(message.contains(expected), "{text:?} gave {message:?}");
        }
    }
}
