// The rule of the contract-version test plugins (future-contract,
// older-contract, major-contract): each crate generates bindings from its own
// copy of the WIT (the real contract with only the version changed) and
// includes this file. One finding per snapshot, so a plugin that is accepted
// is seen to work across the version difference, not just to load.

use exports::perfsage::rule::rule::{
    Action, Category, ConfigEntry, Evidence, Finding, Guest, Level, RuleInfo, Severity, Snapshot,
};

struct ContractRule;

impl Guest for ContractRule {
    fn describe() -> RuleInfo {
        RuleInfo {
            name: env!("CARGO_PKG_NAME").trim_start_matches("test-plugin-").into(),
            version: "2.0.0".into(),
            description: "speaks another version of the contract".into(),
            category: Category::Software,
            needs: vec![],
            uses: vec![],
            params: vec![],
        }
    }

    fn check(snapshot: Snapshot, _config: Vec<ConfigEntry>) -> Result<Vec<Finding>, String> {
        // The host import too must work across versions (a trap here fails the plugin).
        perfsage::rule::host::log("checking across contract versions");
        Ok(vec![Finding {
            rule: "contract/host".into(),
            title: format!("checked {} across contract versions", snapshot.meta.hostname),
            category: Category::Software,
            severity: Severity::Info,
            target: "host".into(),
            evidence: vec![Evidence { metric: "window".into(), observed: snapshot.meta.window_ms as f64, threshold: 0.0, unit: "ms".into() }],
            actions: vec![Action {
                id: "contract.nothing".into(),
                title: "Nothing to do".into(),
                detail: "A test plugin.".into(),
                category: Category::Software,
                impact: 0.1,
                confidence: 0.1,
                effort: Level::Low,
                risk: Level::Low,
                hook: None,
                params: vec![],
            }],
        }])
    }
}

export!(ContractRule);
