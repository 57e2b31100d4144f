//! Returns an action whose impact is outside 0..1 (bypassing the SDK's clamp):
//! reported as an invalid result, never ranked.
use perfsage_sdk::*;

struct Garbage;

impl Rule for Garbage {
    fn describe() -> RuleInfo {
        RuleInfo::new("garbage", "0.1.0", "returns nonsense numbers", Category::Software)
    }

    fn check(_snapshot: &Snapshot, _config: &Config) -> Result<Vec<Finding>, String> {
        let mut action = Action::new("garbage.act", "Do it", Category::Software);
        action.impact = 7.5;
        Ok(vec![Finding::new("garbage/x", "nonsense", Category::Software, Severity::High, "cpu").action(action)])
    }
}

export_rule!(Garbage);
