//! Returns far more findings than the host accepts (20x the default cap, yet
//! quick to build even on a loaded machine): reported as an invalid result.
use perfsage_sdk::*;

struct Flood;

impl Rule for Flood {
    fn describe() -> RuleInfo {
        RuleInfo::new("flood", "0.1.0", "returns an oversized result", Category::Software)
    }

    fn check(_snapshot: &Snapshot, _config: &Config) -> Result<Vec<Finding>, String> {
        Ok((0..1_000)
            .map(|i| Finding::new("flood/x", format!("finding {i}"), Category::Software, Severity::Low, "cpu"))
            .collect())
    }
}

export_rule!(Flood);
