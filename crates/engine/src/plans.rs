//! What the rule pack says to the engine: `[runtime]` (the sandbox's limits)
//! and `[plugins.*]` (enablement, parameters, severity overrides).
//!
//! Parameters are checked against what each plugin declares in `describe()`:
//! names, types and ranges, with a message naming the plugin, the key and
//! what was expected. The result is one [`PluginPlan`] per loaded plugin with
//! every parameter resolved. The rest of the pack belongs to other layers;
//! the command line assembles the whole (see `perfsage_pack`).

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;

use crate::runtime::Limits;
use perfsage_model::{ConfigEntry, ParamSpec, ParamValue, RuleInfo, Severity};

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

impl RuntimeSettings {
    /// Refuse limits the sandbox cannot honour.
    pub fn check(&self) -> Result<(), PlanError> {
        let checks = [
            (self.deadline_ms >= 1 && self.deadline_ms <= 600_000, "runtime.deadline_ms must be 1..=600000"),
            (self.memory_mib >= 1 && self.memory_mib <= 4096, "runtime.memory_mib must be 1..=4096"),
            (self.max_findings >= 1, "runtime.max_findings must be at least 1"),
            (self.max_string_bytes >= 64, "runtime.max_string_bytes must be at least 64"),
        ];
        match checks.iter().find(|(ok, _)| !ok) {
            Some((_, message)) => Err(PlanError::Invalid((*message).into())),
            None => Ok(()),
        }
    }

    /// The sandbox limits these settings set.
    pub fn limits(&self) -> Limits {
        Limits {
            deadline: Duration::from_millis(self.deadline_ms),
            memory_bytes: (self.memory_mib as usize) * 1024 * 1024,
            max_findings: self.max_findings,
            max_string_bytes: self.max_string_bytes,
            ..Limits::default()
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
pub enum PlanError {
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

/// Resolve the `[plugins.*]` settings against the loaded plugins' descriptions. `unloadable`
/// are labels of plugins that failed to load: settings for them are kept
/// aside rather than rejected, since their failure is already reported.
pub fn plan(
    plugins: &BTreeMap<String, PluginSettings>,
    infos: &[&RuleInfo],
    unloadable: &[String],
) -> Result<BTreeMap<String, PluginPlan>, PlanError> {
    for name in plugins.keys() {
        if !infos.iter().any(|i| &i.name == name) && !unloadable.contains(name) {
            let known: Vec<&str> = infos.iter().map(|i| i.name.as_str()).collect();
            return Err(PlanError::UnknownPlugin { name: name.clone(), known: known.join(", ") });
        }
    }
    let default = PluginSettings::default();
    infos
        .iter()
        .map(|info| {
            let settings = plugins.get(&info.name).unwrap_or(&default);
            let plan = PluginPlan {
                enabled: settings.enabled,
                config: resolve_params(info, &settings.params)?,
                severity: settings.severity.iter().map(|(rule, s)| (rule.clone(), Severity::from(*s))).collect(),
            };
            Ok((info.name.clone(), plan))
        })
        .collect()
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
pub fn resolve_params(info: &RuleInfo, params: &toml::Table) -> Result<Vec<ConfigEntry>, PlanError> {
    for key in params.keys() {
        if !info.params.iter().any(|p| &p.name == key) {
            let known: Vec<&str> = info.params.iter().map(|p| p.name.as_str()).collect();
            return Err(PlanError::UnknownParam {
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

fn convert(info: &RuleInfo, spec: &ParamSpec, value: &toml::Value) -> Result<ParamValue, PlanError> {
    let wrong = |expected| PlanError::WrongType {
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
            return Err(PlanError::OutOfRange {
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
    use perfsage_model::Category;

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

    fn plan(toml_text: &str) -> Result<BTreeMap<String, PluginPlan>, PlanError> {
        #[derive(Deserialize)]
        struct Plugins {
            plugins: BTreeMap<String, PluginSettings>,
        }
        let plugins: Plugins = toml::from_str(toml_text).map_err(|e| PlanError::Invalid(e.to_string()))?;
        super::plan(&plugins.plugins, &[&info()], &[])
    }

    #[test]
    fn defaults_fill_unset_params_and_integers_widen_to_numbers() {
        let plans = plan("[plugins.cpu]\nparams = { limit = 90 }").unwrap();
        let config = &plans["cpu"].config;
        assert_eq!(config[0].value, ParamValue::Number(90.0));
        assert_eq!(config[1].value, ParamValue::Integer(5));
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
        ];
        for (text, expected) in cases {
            let message = plan(text).unwrap_err().to_string();
            assert!(message.contains(expected), "{text:?} gave {message:?}");
        }
    }

    #[test]
    fn the_default_runtime_settings_are_the_sandbox_defaults() {
        assert_eq!(RuntimeSettings::default().limits(), Limits::default());
        assert!(RuntimeSettings::default().check().is_ok());
    }

    #[test]
    fn settings_for_a_plugin_that_failed_to_load_are_not_an_error() {
        let plugins = BTreeMap::from([("broken".to_string(), PluginSettings { enabled: false, ..Default::default() })]);
        assert!(super::plan(&plugins, &[&info()], &["broken".to_string()]).is_ok());
    }
}
