//! Typed access to a rule's configuration.
//!
//! The host checks names, types and ranges against `describe()` and fills in
//! defaults before `check` is called, so a rule reads its parameters without
//! error handling. [`Config::resolve`] still falls back to the declared
//! defaults, so a rule called natively (tests) behaves the same.

use crate::{ConfigEntry, ParamSpec, ParamValue};

/// The resolved parameters of one check.
#[derive(Debug, Clone, Default)]
pub struct Config {
    values: Vec<(String, ParamValue)>,
}

impl Config {
    /// Declared defaults overlaid with the given entries.
    pub fn resolve(specs: &[ParamSpec], entries: Vec<ConfigEntry>) -> Self {
        let mut values: Vec<(String, ParamValue)> = specs.iter().map(|s| (s.name.clone(), s.default.clone())).collect();
        for entry in entries {
            match values.iter_mut().find(|(name, _)| *name == entry.name) {
                Some(slot) => slot.1 = entry.value,
                None => values.push((entry.name, entry.value)),
            }
        }
        Config { values }
    }

    /// The raw value of a parameter.
    pub fn get(&self, name: &str) -> Option<&ParamValue> {
        self.values.iter().find(|(n, _)| n == name).map(|(_, v)| v)
    }

    /// A numeric parameter (an integer value is widened). Panics, which the host
    /// reports as a failed plugin, if the rule reads a parameter it never declared.
    pub fn number(&self, name: &str) -> f64 {
        match self.get(name) {
            Some(ParamValue::Number(v)) => *v,
            Some(ParamValue::Integer(v)) => *v as f64,
            other => panic!("parameter `{name}` is not a declared number (found {other:?})"),
        }
    }

    /// An integer parameter.
    pub fn integer(&self, name: &str) -> i64 {
        match self.get(name) {
            Some(ParamValue::Integer(v)) => *v,
            Some(ParamValue::Number(v)) if v.fract() == 0.0 => *v as i64,
            other => panic!("parameter `{name}` is not a declared integer (found {other:?})"),
        }
    }

    /// A text parameter.
    pub fn text(&self, name: &str) -> &str {
        match self.get(name) {
            Some(ParamValue::Text(v)) => v,
            other => panic!("parameter `{name}` is not a declared text (found {other:?})"),
        }
    }

    /// A boolean parameter.
    pub fn flag(&self, name: &str) -> bool {
        match self.get(name) {
            Some(ParamValue::Flag(v)) => *v,
            other => panic!("parameter `{name}` is not a declared flag (found {other:?})"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::param;

    #[test]
    fn entries_override_defaults_and_integers_widen() {
        let specs = vec![param::number("limit", "", "%", 90.0).build(), param::integer("top", "", "", 5).build()];
        let config =
            Config::resolve(&specs, vec![ConfigEntry { name: "limit".into(), value: ParamValue::Integer(75) }]);
        assert_eq!(config.number("limit"), 75.0);
        assert_eq!(config.integer("top"), 5);
    }

    #[test]
    #[should_panic(expected = "parameter `missing`")]
    fn undeclared_parameter_panics_with_its_name() {
        Config::default().number("missing");
    }
}
