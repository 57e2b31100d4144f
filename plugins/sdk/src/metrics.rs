//! Small numeric helpers rules keep needing: shares, percentiles, rates,
//! series windows and trends, and human-readable sizes for titles.

use crate::Series;

/// `part` as a percentage of `total`; 0 when `total` is 0.
pub fn pct(part: f64, total: f64) -> f64 {
    if total > 0.0 { part / total * 100.0 } else { 0.0 }
}

/// Nearest-rank percentile (`q` in 0..=100) of unsorted values; `None` when empty.
pub fn percentile(values: &[f64], q: f64) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    let mut sorted: Vec<f64> = values.iter().copied().filter(|v| !v.is_nan()).collect();
    if sorted.is_empty() {
        return None;
    }
    sorted.sort_by(f64::total_cmp);
    let rank = ((q.clamp(0.0, 100.0) / 100.0) * sorted.len() as f64).ceil() as usize;
    Some(sorted[rank.saturating_sub(1).min(sorted.len() - 1)])
}

/// Per-second rate of a counter that went from `before` to `after` over `window_ms`.
/// A counter reset (after < before) counts from zero.
pub fn rate(before: f64, after: f64, window_ms: u64) -> f64 {
    if window_ms == 0 {
        return 0.0;
    }
    let delta = if after >= before { after - before } else { after };
    delta * 1000.0 / window_ms as f64
}

/// The points of a series at or after `since_ms`, as (timestamp, value) pairs.
pub fn window(series: &Series, since_ms: i64) -> Vec<(i64, f64)> {
    series.timestamps_ms.iter().zip(&series.values).filter(|(t, _)| **t >= since_ms).map(|(t, v)| (*t, *v)).collect()
}

/// Least-squares slope of the points in units per second; `None` for fewer
/// than two distinct timestamps.
pub fn slope_per_sec(points: &[(i64, f64)]) -> Option<f64> {
    if points.len() < 2 {
        return None;
    }
    let n = points.len() as f64;
    let mean_t = points.iter().map(|(t, _)| *t as f64).sum::<f64>() / n;
    let mean_v = points.iter().map(|(_, v)| *v).sum::<f64>() / n;
    let (mut num, mut den) = (0.0, 0.0);
    for (t, v) in points {
        let dt = *t as f64 - mean_t;
        num += dt * (v - mean_v);
        den += dt * dt;
    }
    if den == 0.0 { None } else { Some(num / den * 1000.0) }
}

/// Bytes in binary units with one decimal: `1.5 GiB`.
pub fn human_bytes(bytes: f64) -> String {
    const UNITS: [&str; 6] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let mut value = bytes;
    let mut unit = 0;
    while value.abs() >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 { format!("{value:.0} B") } else { format!("{value:.1} {}", UNITS[unit]) }
}

/// A count in SI steps: `950`, `12k`, `1.5M`, `2.0G`.
pub fn human_count(count: f64) -> String {
    match count.abs() {
        c if c < 1_000.0 => format!("{count:.0}"),
        c if c < 1_000_000.0 => format!("{:.0}k", count / 1e3),
        c if c < 1e9 => format!("{:.1}M", count / 1e6),
        _ => format!("{:.1}G", count / 1e9),
    }
}

/// Seconds as a short duration: `45 s`, `12 min`, `3.5 h`, `2.0 d`.
pub fn human_duration(seconds: f64) -> String {
    match seconds {
        s if s < 120.0 => format!("{s:.0} s"),
        s if s < 7200.0 => format!("{:.0} min", s / 60.0),
        s if s < 172_800.0 => format!("{:.1} h", s / 3600.0),
        s => format!("{:.1} d", s / 86_400.0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentile_uses_nearest_rank() {
        let values: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&values, 50.0), Some(50.0));
        assert_eq!(percentile(&values, 99.0), Some(99.0));
        assert_eq!(percentile(&values, 100.0), Some(100.0));
        assert_eq!(percentile(&[], 50.0), None);
    }

    #[test]
    fn rate_handles_counter_reset() {
        assert_eq!(rate(100.0, 300.0, 2000), 100.0);
        assert_eq!(rate(500.0, 40.0, 1000), 40.0);
        assert_eq!(rate(1.0, 2.0, 0), 0.0);
    }

    #[test]
    fn slope_of_a_line() {
        let points: Vec<(i64, f64)> = (0..10).map(|i| (i * 1000, 5.0 + 2.0 * i as f64)).collect();
        assert!((slope_per_sec(&points).unwrap() - 2.0).abs() < 1e-9);
        assert_eq!(slope_per_sec(&points[..1]), None);
    }

    #[test]
    fn human_units() {
        assert_eq!(human_bytes(512.0), "512 B");
        assert_eq!(human_bytes(1536.0 * 1024.0 * 1024.0), "1.5 GiB");
        assert_eq!(human_duration(30.0), "30 s");
        assert_eq!(human_duration(5400.0), "90 min");
    }
}
