//! How bad is it: the severity ladders rules keep needing.
//!
//! A finding exists because a metric crossed its threshold, so every ladder
//! starts at `Medium` and climbs to `High` and `Critical` at two further
//! steps. [`by_ratio`] is the common case (how many times past the threshold),
//! [`rising`] and [`falling`] take explicit steps, [`high_from`] and
//! [`high_past_half_headroom`] stop at `High`, and [`milder`] steps down one
//! level for evidence that is real but less pressing.

use crate::Severity;

/// Severity by how far past its threshold a metric is (observed ÷ threshold):
/// below 2× `Medium`, from 2× `High`, from 4× `Critical`.
pub fn by_ratio(ratio: f64) -> Severity {
    rising(ratio, 2.0, 4.0)
}

/// For a metric that is worse when higher: `High` from `high`, `Critical`
/// from `critical`, `Medium` below both.
pub fn rising(value: f64, high: f64, critical: f64) -> Severity {
    match value {
        v if v >= critical => Severity::Critical,
        v if v >= high => Severity::High,
        _ => Severity::Medium,
    }
}

/// For a metric that is worse when lower (time left, headroom): `High` at or
/// below `high`, `Critical` at or below `critical`, `Medium` above both.
pub fn falling(value: f64, high: f64, critical: f64) -> Severity {
    match value {
        v if v <= critical => Severity::Critical,
        v if v <= high => Severity::High,
        _ => Severity::Medium,
    }
}

/// The two-step ladder: `High` from `high`, `Medium` below it (a finding
/// that is never `Critical`).
pub fn high_from(value: f64, high: f64) -> Severity {
    if value >= high { Severity::High } else { Severity::Medium }
}

/// For a percentage that is bad above `threshold_pct` and cannot pass 100:
/// `High` once more than half of the headroom between the threshold and 100 %
/// is gone, `Medium` before.
pub fn high_past_half_headroom(observed_pct: f64, threshold_pct: f64) -> Severity {
    high_from(observed_pct, (threshold_pct + 100.0) / 2.0)
}

/// One level milder, stopping at `Info`.
pub fn milder(severity: Severity) -> Severity {
    match severity {
        Severity::Critical => Severity::High,
        Severity::High => Severity::Medium,
        Severity::Medium => Severity::Low,
        Severity::Low | Severity::Info => Severity::Info,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ratio_ladder_steps_at_two_and_four() {
        assert_eq!(by_ratio(1.01), Severity::Medium);
        assert_eq!(by_ratio(2.0), Severity::High);
        assert_eq!(by_ratio(3.99), Severity::High);
        assert_eq!(by_ratio(4.0), Severity::Critical);
        assert_eq!(by_ratio(f64::INFINITY), Severity::Critical);
    }

    #[test]
    fn falling_ladder_is_worse_when_lower() {
        assert_eq!(falling(100.0, 24.0, 4.0), Severity::Medium);
        assert_eq!(falling(24.0, 24.0, 4.0), Severity::High);
        assert_eq!(falling(1.0, 24.0, 4.0), Severity::Critical);
    }

    #[test]
    fn rising_ladder_is_worse_when_higher() {
        assert_eq!(rising(89.9, 90.0, 100.0), Severity::Medium);
        assert_eq!(rising(90.0, 90.0, 100.0), Severity::High);
        assert_eq!(rising(100.0, 90.0, 100.0), Severity::Critical);
    }

    #[test]
    fn two_step_ladders_stop_at_high() {
        assert_eq!(high_from(49.9, 50.0), Severity::Medium);
        assert_eq!(high_from(50.0, 50.0), Severity::High);
        assert_eq!(high_from(f64::INFINITY, 50.0), Severity::High);
        assert_eq!(high_from(f64::NAN, 50.0), Severity::Medium);
        // Threshold 80 %: the headroom is 80..100, half of it gone at 90 %.
        assert_eq!(high_past_half_headroom(89.9, 80.0), Severity::Medium);
        assert_eq!(high_past_half_headroom(90.0, 80.0), Severity::High);
        assert_eq!(high_past_half_headroom(100.0, 80.0), Severity::High);
    }

    #[test]
    fn milder_stops_at_info() {
        assert_eq!(milder(Severity::Critical), Severity::High);
        assert_eq!(milder(Severity::Low), Severity::Info);
        assert_eq!(milder(Severity::Info), Severity::Info);
    }
}
