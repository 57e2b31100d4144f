//! What the snapshot says about the machine itself, as several rules size
//! their advice against it.

use crate::Snapshot;

/// Installed RAM in bytes; `None` without a memory section or when the
/// source reported none (a rule then says it could not size against RAM).
pub fn ram_bytes(snapshot: &Snapshot) -> Option<f64> {
    snapshot.memory.as_ref().map(|m| m.total_bytes as f64).filter(|r| *r > 0.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{empty_snapshot, memory_gib};

    #[test]
    fn ram_needs_a_memory_section_that_knows_it() {
        assert_eq!(ram_bytes(&empty_snapshot()), None);
        let zero = Snapshot { memory: Some(memory_gib(0.0)), ..empty_snapshot() };
        assert_eq!(ram_bytes(&zero), None);
        let sixteen = Snapshot { memory: Some(memory_gib(16.0)), ..empty_snapshot() };
        assert_eq!(ram_bytes(&sixteen), Some(16.0 * 1024.0 * 1024.0 * 1024.0));
    }
}
