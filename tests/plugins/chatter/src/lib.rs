//! Logs without end in `check`: the host must stop it at its log caps, not
//! spend the whole deadline copying its strings.
use perfsage_sdk::*;

struct Chatter;

impl Rule for Chatter {
    fn describe() -> RuleInfo {
        RuleInfo::new("chatter", "0.1.0", "logs without end", Category::Software)
    }

    fn check(_snapshot: &Snapshot, _config: &Config) -> Result<Vec<Finding>, String> {
        let mut n: u64 = 0;
        loop {
            n += 1;
            log(&format!("still here ({n})"));
        }
    }
}

export_rule!(Chatter);
