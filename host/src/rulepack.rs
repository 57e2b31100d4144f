//! Rule packs: the TOML that says which plugins run, with which parameters,
//! under which limits, and which severities to override.
//!
//! Parsing is strict (`deny_unknown_fields`): a misspelt key is an error, not a
//! silently ignored setting. Plugin parameters are checked against what each
//! plugin declares in `describe()`: names, types and ranges, with a message
//! naming the plugin, the key and what was expected. The result is one
//! [`PluginPlan`] per loaded plugin with every parameter resolved.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::actions::hooks::HookBinding;
use crate::digest::SlowLogSettings;
use crate::model::{ConfigEntry, ParamSpec, ParamValue, RuleInfo, Severity};
use crate::plugins::Limits;
use crate::sources::access_log::AccessLogSettings;
use crate::sources::prometheus::PrometheusSettings;

/// The rule pack used when none is given.
pub const DEFAULT_RULE_PACK: &str = include_str!("../../rules/default.toml");

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
    /// Hook name to what runs it (see `crate::actions::hooks`).
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

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RuntimeSettings {
    pub deadline_ms: u64,
    pub memory_mib: u64,
    pub max_findings: usize,
    pub max_string_bytes: usize,
}

impl Default for RuntimeSettings {
    fn default() -> Self {
        let limits = Limits::default();
        RuntimeSettings {
            deadline_ms: limits.deadline.as_millis() as u64,
            memory_mib: (limits.memory_bytes / (1024 * 1024)) as u64,
            max_findings: limits.max_findings,
            max_string_bytes: limits.max_string_bytes,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CollectSettings {
    pub window_ms: u64,
    pub top_processes: usize,
}

impl Default for CollectSettings {
    fn default() -> Self {
        CollectSettings { window_ms: 1000, top_processes: 10 }
    }
}

/// `[sources]`: connection URLs of the database servers to read, and how
/// long each may take.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SourceSettings {
    pub postgres: Vec<String>,
    pub mysql: Vec<String>,
    /// The most one database source may take, connect to goodbye; also each
    /// statement's timeout on the server.
    pub timeout_ms: u64,
}

impl Default for SourceSettings {
    fn default() -> Self {
        SourceSettings {
            postgres: Vec::new(),
            mysql: Vec::new(),
            timeout_ms: crate::sources::database::DEFAULT_TIMEOUT.as_millis() as u64,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PluginSettings {
    pub enabled: bool,
    pub params: toml::Table,
    /// Finding rule id (e.g. `cpu/steal`) to the severity to report instead.
    pub severity: BTreeMap<String, SeverityName>,
}

impl Default for PluginSettings {
    fn default() -> Self {
        PluginSettings { enabled: true, params: toml::Table::new(), severity: BTreeMap::new() }
    }
}

/// A severity as written in TOML.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SeverityName {
    Info,
    Low,
    Medium,
    High,
    Critical,
}

impl From<SeverityName> for Severity {
    fn from(name: SeverityName) -> Self {
        match name {
            SeverityName::Info => Severity::Info,
            SeverityName::Low => Severity::Low,
            SeverityName::Medium => Severity::Medium,
            SeverityName::High => Severity::High,
            SeverityName::Critical => Severity::Critical,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RulePackError {
    #[error("cannot read the rule pack {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("{origin} is not a valid rule pack: {message}")]
    Parse { origin: String, message: String },
    #[error("{0}")]
    Invalid(String),
    #[error("the rule pack configures plugin `{name}`, which is not loaded (loaded: {known})")]
    UnknownPlugin { name: String, known: String },
    #[error("plugin `{plugin}` has no parameter `{key}` (it declares: {known})")]
    UnknownParam { plugin: String, key: String, known: String },
    #[error("plugin `{plugin}`, parameter `{key}`: expected {expected}, found {found}")]
    WrongType { plugin: String, key: String, expected: &'static str, found: String },
    #[error("plugin `{plugin}`, parameter `{key}`: {value} is outside its range {range}")]
    OutOfRange { plugin: String, key: String, value: f64, range: String },
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
        let r = &self.runtime;
        let checks = [
            (r.deadline_ms >= 1 && r.deadline_ms <= 600_000, "runtime.deadline_ms must be 1..=600000"),
            (r.memory_mib >= 1 && r.memory_mib <= 4096, "runtime.memory_mib must be 1..=4096"),
            (r.max_findings >= 1, "runtime.max_findings must be at least 1"),
            (r.max_string_bytes >= 64, "runtime.max_string_bytes must be at least 64"),
            (
                self.collect.window_ms >= 10 && self.collect.window_ms <= 600_000,
                "collect.window_ms must be 10..=600000",
            ),
            (
                self.sources.timeout_ms >= 100 && self.sources.timeout_ms <= 600_000,
                "sources.timeout_ms must be 100..=600000",
            ),
        ];
        if let Some((_, message)) = checks.iter().find(|(ok, _)| !ok) {
            return Err(RulePackError::Invalid((*message).into()));
        }
        for (name, binding) in &self.hooks {
            binding.validate(name).map_err(RulePackError::Invalid)?;
        }
        Ok(())
    }

    /// The sandbox limits this pack sets.
    pub fn limits(&self) -> Limits {
        Limits {
            deadline: Duration::from_millis(self.runtime.deadline_ms),
            memory_bytes: (self.runtime.memory_mib as usize) * 1024 * 1024,
            max_findings: self.runtime.max_findings,
            max_string_bytes: self.runtime.max_string_bytes,
            ..Limits::default()
        }
    }

    /// Resolve the pack against the loaded plugins' descriptions. `unloadable`
    /// are labels of plugins that failed to load: settings for them are kept
    /// aside rather than rejected, since their failure is already reported.
    pub fn plan(
        &self,
        infos: &[&RuleInfo],
        unloadable: &[String],
    ) -> Result<BTreeMap<String, PluginPlan>, RulePackError> {
        for name in self.plugins.keys() {
            if !infos.iter().any(|i| &i.name == name) && !unloadable.contains(name) {
                let known: Vec<&str> = infos.iter().map(|i| i.name.as_str()).collect();
                return Err(RulePackError::UnknownPlugin { name: name.clone(), known: known.join(", ") });
            }
        }
        let default = PluginSettings::default();
        infos
            .iter()
            .map(|info| {
                let settings = self.plugins.get(&info.name).unwrap_or(&default);
                let plan = PluginPlan {
                    enabled: settings.enabled,
                    config: resolve_params(info, &settings.params)?,
                    severity: settings.severity.iter().map(|(rule, s)| (rule.clone(), Severity::from(*s))).collect(),
                };
                Ok((info.name.clone(), plan))
            })
            .collect()
    }
}

/// What the rule pack says about one loaded plugin.
#[derive(Debug, Clone, PartialEq)]
pub struct PluginPlan {
    pub enabled: bool,
    /// Every declared parameter, defaults filled in, in declaration order.
    pub config: Vec<ConfigEntry>,
    pub severity: BTreeMap<String, Severity>,
}

/// Check `params` against the plugin's declaration and fill in defaults.
pub fn resolve_params(info: &RuleInfo, params: &toml::Table) -> Result<Vec<ConfigEntry>, RulePackError> {
    for key in params.keys() {
        if !info.params.iter().any(|p| &p.name == key) {
            let known: Vec<&str> = info.params.iter().map(|p| p.name.as_str()).collect();
            return Err(RulePackError::UnknownParam {
                plugin: info.name.clone(),
                key: key.clone(),
                known: if known.is_empty() { "no parameters".into() } else { known.join(", ") },
            });
        }
    }
    info.params
        .iter()
        .map(|spec| {
            let value = match params.get(&spec.name) {
                Some(value) => convert(info, spec, value)?,
                None => spec.default.clone(),
            };
            Ok(ConfigEntry { name: spec.name.clone(), value })
        })
        .collect()
}

fn convert(info: &RuleInfo, spec: &ParamSpec, value: &toml::Value) -> Result<ParamValue, RulePackError> {
    let wrong = |expected| RulePackError::WrongType {
        plugin: info.name.clone(),
        key: spec.name.clone(),
        expected,
        found: format!("{} {value}", value.type_str()),
    };
    let converted = match (&spec.default, value) {
        (ParamValue::Number(_), toml::Value::Float(v)) => ParamValue::Number(*v),
        (ParamValue::Number(_), toml::Value::Integer(v)) => ParamValue::Number(*v as f64),
        (ParamValue::Number(_), _) => return Err(wrong("a number")),
        (ParamValue::Integer(_), toml::Value::Integer(v)) => ParamValue::Integer(*v),
        (ParamValue::Integer(_), _) => return Err(wrong("an integer")),
        (ParamValue::Text(_), toml::Value::String(v)) => ParamValue::Text(v.clone()),
        (ParamValue::Text(_), _) => return Err(wrong("a string")),
        (ParamValue::Flag(_), toml::Value::Boolean(v)) => ParamValue::Flag(*v),
        (ParamValue::Flag(_), _) => return Err(wrong("true or false")),
    };
    let numeric = match converted {
        ParamValue::Number(v) => Some(v),
        ParamValue::Integer(v) => Some(v as f64),
        _ => None,
    };
    if let Some(v) = numeric {
        let below = spec.min.is_some_and(|min| v < min);
        let above = spec.max.is_some_and(|max| v > max);
        if below || above || !v.is_finite() {
            let bound = |b: Option<f64>| b.map_or(String::new(), |b| b.to_string());
            return Err(RulePackError::OutOfRange {
                plugin: info.name.clone(),
                key: spec.name.clone(),
                value: v,
                range: format!("{}..={}", bound(spec.min), bound(spec.max)),
            });
        }
    }
    Ok(converted)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Category;

    fn info() -> RuleInfo {
        RuleInfo {
            name: "cpu".into(),
            version: "1".into(),
            description: String::new(),
            category: Category::Hardware,
            needs: vec![],
            uses: vec![],
            params: vec![
                ParamSpec {
                    name: "limit".into(),
                    description: String::new(),
                    unit: "%".into(),
                    default: ParamValue::Number(85.0),
                    min: Some(0.0),
                    max: Some(100.0),
                },
                ParamSpec {
                    name: "top".into(),
                    description: String::new(),
                    unit: String::new(),
                    default: ParamValue::Integer(5),
                    min: Some(1.0),
                    max: None,
                },
            ],
        }
    }

    fn plan(toml_text: &str) -> Result<BTreeMap<String, PluginPlan>, RulePackError> {
        let info = info();
        RulePack::parse(toml_text, "test")?.plan(&[&info], &[])
    }

    #[test]
    fn defaults_fill_unset_params_and_integers_widen_to_numbers() {
        let plans = plan("[plugins.cpu]\nparams = { limit = 90 }").unwrap();
        let config = &plans["cpu"].config;
        assert_eq!(config[0].value, ParamValue::Number(90.0));
        assert_eq!(config[1].value, ParamValue::Integer(5));
    }

    #[test]
    fn the_default_pack_parses() {
        let pack = RulePack::load(None).unwrap();
        assert_eq!(pack.limits(), Limits::default());
        assert_eq!(pack.sources.timeout_ms, 30_000, "a database source has 30 s unless told otherwise");
    }

    #[test]
    fn errors_name_the_plugin_the_key_and_the_expectation() {
        let cases = [
            ("[plugins.cpux]", "plugin `cpux`, which is not loaded (loaded: cpu)"),
            (
                "[plugins.cpu]\nparams = { limti = 1 }",
                "plugin `cpu` has no parameter `limti` (it declares: limit, top)",
            ),
            (
                "[plugins.cpu]\nparams = { limit = \"high\" }",
                "parameter `limit`: expected a number, found string \"high\"",
            ),
            ("[plugins.cpu]\nparams = { top = 2.5 }", "parameter `top`: expected an integer"),
            ("[plugins.cpu]\nparams = { limit = 140 }", "140 is outside its range 0..=100"),
            ("[plugins.cpu]\nseverity = { \"cpu/x\" = \"urgent\" }", "unknown variant `urgent`"),
            ("[runtime]\ndeadline = 5", "unknown field `deadline`"),
            ("[runtime]\ndeadline_ms = 0", "runtime.deadline_ms must be 1..=600000"),
            ("[sources]\ntimeout_ms = 10", "sources.timeout_ms must be 100..=600000"),
            ("[prometheus.node]\ncpu = \"x\"", "[prometheus]: unknown field `cpu`"),
        ];
        for (text, expected) in cases {
            let message = plan(text).unwrap_err().to_string();
            assert!(message.contains(expected), "{text:?} gave {message:?}");
        }
    }

    #[test]
    fn settings_for_a_plugin_that_failed_to_load_are_not_an_error() {
        let info = info();
        let pack = RulePack::parse("[plugins.broken]\nenabled = false", "test").unwrap();
        assert!(pack.plan(&[&info], &["broken".to_string()]).is_ok());
    }
}
