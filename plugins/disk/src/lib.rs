//! Built-in rule: disk (placeholder until its rules land).
use perfsage_sdk::*;

pub struct Plugin;

impl Rule for Plugin {
    fn describe() -> RuleInfo {
        RuleInfo::new("disk", env!("CARGO_PKG_VERSION"), "placeholder", Category::Hardware)
    }

    fn check(_snapshot: &Snapshot, _config: &Config) -> Result<Vec<Finding>, String> {
        Ok(Vec::new())
    }
}

export_rule!(Plugin);
