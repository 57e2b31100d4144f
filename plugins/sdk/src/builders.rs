//! Builders for rule info, parameters, findings and actions, and the order
//! findings are reported in.
//!
//! The generated records have many fields; these builders give each a
//! sensible default so a rule states only what matters:
//!
//! ```
//! use perfsage_sdk::*;
//! let finding = Finding::new("cpu/saturation", "CPU run queue is saturated", Category::Hardware, Severity::High, "cpu")
//!     .evidence("load1 per core", 3.2, 1.0, "")
//!     .action(
//!         Action::new("cpu.add-cores", "Add CPU cores", Category::Hardware)
//!             .detail("The run queue is longer than the cores can serve.")
//!             .impact(0.8)
//!             .confidence(0.7)
//!             .effort(Level::Medium),
//!     );
//! assert_eq!(finding.actions.len(), 1);
//! ```

use crate::{
    Action, Category, Evidence, Finding, HookParam, Level, ParamSpec, ParamValue, RuleInfo, Section, Severity,
};

impl RuleInfo {
    /// A rule with no needs and no parameters yet.
    pub fn new(name: &str, version: &str, description: &str, category: Category) -> Self {
        RuleInfo {
            name: name.into(),
            version: version.into(),
            description: description.into(),
            category,
            needs: Vec::new(),
            uses: Vec::new(),
            params: Vec::new(),
        }
    }

    /// The snapshot sections the rule reads; it is skipped when one is absent.
    pub fn needs(mut self, sections: &[Section]) -> Self {
        self.needs.extend_from_slice(sections);
        self
    }

    /// Sections the rule reads when they are present but can do without.
    pub fn uses(mut self, sections: &[Section]) -> Self {
        self.uses.extend_from_slice(sections);
        self
    }

    /// Declare a parameter (see [`param`](crate::param)).
    pub fn param(mut self, spec: impl Into<ParamSpec>) -> Self {
        self.params.push(spec.into());
        self
    }
}

/// Parameter declarations: `param::number("limit", "what it means", "%", 90.0).range(0.0, 100.0)`.
pub mod param {
    use super::*;

    /// A parameter declaration under construction.
    #[derive(Debug, Clone)]
    pub struct Builder(ParamSpec);

    fn spec(name: &str, description: &str, unit: &str, default: ParamValue) -> Builder {
        Builder(ParamSpec {
            name: name.into(),
            description: description.into(),
            unit: unit.into(),
            default,
            min: None,
            max: None,
        })
    }

    pub fn number(name: &str, description: &str, unit: &str, default: f64) -> Builder {
        spec(name, description, unit, ParamValue::Number(default))
    }

    pub fn integer(name: &str, description: &str, unit: &str, default: i64) -> Builder {
        spec(name, description, unit, ParamValue::Integer(default))
    }

    pub fn text(name: &str, description: &str, default: &str) -> Builder {
        spec(name, description, "", ParamValue::Text(default.into()))
    }

    pub fn flag(name: &str, description: &str, default: bool) -> Builder {
        spec(name, description, "", ParamValue::Flag(default))
    }

    impl Builder {
        /// Inclusive bounds the host enforces on configured values.
        pub fn range(mut self, min: f64, max: f64) -> Self {
            self.0.min = Some(min);
            self.0.max = Some(max);
            self
        }

        pub fn min(mut self, min: f64) -> Self {
            self.0.min = Some(min);
            self
        }

        pub fn build(self) -> ParamSpec {
            self.0
        }
    }

    impl From<Builder> for ParamSpec {
        fn from(b: Builder) -> Self {
            b.0
        }
    }
}

impl Finding {
    /// A finding with no evidence and no actions yet.
    pub fn new(
        rule: &str,
        title: impl Into<String>,
        category: Category,
        severity: Severity,
        target: impl Into<String>,
    ) -> Self {
        Finding {
            rule: rule.into(),
            title: title.into(),
            category,
            severity,
            target: target.into(),
            evidence: Vec::new(),
            actions: Vec::new(),
        }
    }

    /// Add one measured fact: the metric, what was observed, the threshold it crossed.
    pub fn evidence(mut self, metric: impl Into<String>, observed: f64, threshold: f64, unit: &str) -> Self {
        self.evidence.push(Evidence { metric: metric.into(), observed, threshold, unit: unit.into() });
        self
    }

    pub fn action(mut self, action: Action) -> Self {
        self.actions.push(action);
        self
    }
}

/// Put findings in report order: by target, then by rule (the sort is
/// stable, so findings of one rule on one target keep their order).
pub fn sort_by_target(findings: &mut [Finding]) {
    findings.sort_by(|a, b| a.target.cmp(&b.target).then_with(|| a.rule.cmp(&b.rule)));
}

impl Action {
    /// An action with middling impact and confidence, low effort and risk, and no hook.
    pub fn new(id: &str, title: impl Into<String>, category: Category) -> Self {
        Action {
            id: id.into(),
            title: title.into(),
            detail: String::new(),
            category,
            impact: 0.5,
            confidence: 0.5,
            effort: Level::Low,
            risk: Level::Low,
            hook: None,
            params: Vec::new(),
        }
    }

    pub fn detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = detail.into();
        self
    }

    /// Share of the problem removed, clamped to 0..1.
    pub fn impact(mut self, impact: f64) -> Self {
        self.impact = impact.clamp(0.0, 1.0);
        self
    }

    /// How sure the rule is, clamped to 0..1.
    pub fn confidence(mut self, confidence: f64) -> Self {
        self.confidence = confidence.clamp(0.0, 1.0);
        self
    }

    pub fn effort(mut self, effort: Level) -> Self {
        self.effort = effort;
        self
    }

    pub fn risk(mut self, risk: Level) -> Self {
        self.risk = risk;
        self
    }

    /// Name the rule-pack hook that can carry the action out.
    pub fn hook(mut self, hook: &str) -> Self {
        self.hook = Some(hook.into());
        self
    }

    /// A parameter for the hook; it reaches the script as `PERFSAGE_PARAM_<KEY>`.
    pub fn param(mut self, key: &str, value: impl ToString) -> Self {
        self.params.push(HookParam { key: key.into(), value: value.to_string() });
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn findings_sort_by_target_then_rule_and_keep_their_order_otherwise() {
        let finding = |rule: &str, title: &str, target: &str| {
            Finding::new(rule, title, Category::Software, Severity::Medium, target)
        };
        let mut findings = vec![
            finding("b/rule", "1", "mariadb crm"),
            finding("a/rule", "2", "postgresql crm"),
            finding("a/rule", "3", "mariadb crm"),
            finding("b/rule", "4", "mariadb crm"),
        ];
        sort_by_target(&mut findings);
        let titles: Vec<&str> = findings.iter().map(|f| f.title.as_str()).collect();
        assert_eq!(titles, ["3", "1", "4", "2"]);
    }
}
