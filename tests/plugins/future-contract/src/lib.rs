//! Built against `perfsage:rule@0.2.0`, which a 0.1 host must refuse with both
//! versions named. Its WIT is the real contract with only the version changed.
wit_bindgen::generate!({ path: "wit", world: "plugin" });

use exports::perfsage::rule::rule::{Category, ConfigEntry, Finding, Guest, RuleInfo, Snapshot};

struct Future;

impl Guest for Future {
    fn describe() -> RuleInfo {
        RuleInfo {
            name: "future".into(),
            version: "0.1.0".into(),
            description: "speaks a newer contract".into(),
            category: Category::Software,
            needs: vec![],
            uses: vec![],
            params: vec![],
        }
    }

    fn check(_snapshot: Snapshot, _config: Vec<ConfigEntry>) -> Result<Vec<Finding>, String> {
        Ok(vec![])
    }
}

export!(Future);
