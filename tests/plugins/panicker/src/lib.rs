//! Panics in `check`: reported as trapped, with the panic message.
use perfsage_sdk::*;

struct Panicker;

impl Rule for Panicker {
    fn describe() -> RuleInfo {
        RuleInfo::new("panicker", "0.1.0", "panics", Category::Software)
    }

    fn check(snapshot: &Snapshot, _config: &Config) -> Result<Vec<Finding>, String> {
        let cores = snapshot.cpu.as_ref().map_or(0, |c| c.logical_cores);
        panic!("rule bug: cannot divide by {} cores", cores * 0);
    }
}

export_rule!(Panicker);
