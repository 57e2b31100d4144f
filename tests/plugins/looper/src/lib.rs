//! Loops forever in `check`: the sandbox must stop it at its deadline.
use perfsage_sdk::*;

struct Looper;

impl Rule for Looper {
    fn describe() -> RuleInfo {
        RuleInfo::new("looper", "0.1.0", "loops forever", Category::Software)
    }

    fn check(snapshot: &Snapshot, _config: &Config) -> Result<Vec<Finding>, String> {
        let mut n = snapshot.meta.window_ms;
        loop {
            n = std::hint::black_box(n.wrapping_mul(6364136223846793005).wrapping_add(1));
        }
    }
}

export_rule!(Looper);
