//! Allocates without bound in `check`: the sandbox must stop it at its memory cap.
use perfsage_sdk::*;

struct Hog;

impl Rule for Hog {
    fn describe() -> RuleInfo {
        RuleInfo::new("hog", "0.1.0", "allocates without bound", Category::Software)
    }

    fn check(_snapshot: &Snapshot, _config: &Config) -> Result<Vec<Finding>, String> {
        let mut hoard: Vec<Vec<u8>> = Vec::new();
        loop {
            hoard.push(vec![1u8; 1 << 20]);
            std::hint::black_box(&hoard);
        }
    }
}

export_rule!(Hog);
