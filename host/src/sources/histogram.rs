//! Latency histograms shared by the probe and the access-log source: HDR
//! histograms of microseconds turned into the snapshot's latency summary and
//! cumulative buckets.

use hdrhistogram::Histogram;

use crate::model::{Bucket, Latency};

/// The cumulative bucket bounds written into each endpoint (for Apdex and custom quantiles).
pub const BUCKET_BOUNDS_MS: [f64; 20] = [
    1.0, 2.0, 5.0, 10.0, 25.0, 50.0, 100.0, 200.0, 250.0, 300.0, 400.0, 500.0, 750.0, 1000.0, 1500.0, 2000.0, 2500.0,
    5000.0, 10_000.0, 30_000.0,
];

/// Percentiles of a µs histogram in ms, with the exact sum and max.
pub fn summary(h: &Histogram<u64>, total_us: u64, max_us: u64) -> Latency {
    let ms = |us: u64| round3(us as f64 / 1000.0);
    let q = |q: f64| if h.is_empty() { 0.0 } else { ms(h.value_at_quantile(q)) };
    Latency {
        p50_ms: q(0.50),
        p90_ms: q(0.90),
        p95_ms: q(0.95),
        p99_ms: q(0.99),
        p999_ms: q(0.999),
        max_ms: ms(max_us),
        mean_ms: if h.is_empty() { 0.0 } else { round3(total_us as f64 / 1000.0 / h.len() as f64) },
    }
}

/// Cumulative buckets of a µs histogram at [`BUCKET_BOUNDS_MS`].
pub fn buckets(h: &Histogram<u64>) -> Vec<Bucket> {
    BUCKET_BOUNDS_MS
        .iter()
        .map(|le_ms| Bucket { le_ms: *le_ms, count: h.count_between(0, (*le_ms * 1000.0) as u64) })
        .collect()
}

/// Three decimals: exact through a JSON round trip (see the system source).
pub fn round3(v: f64) -> f64 {
    if v.is_finite() { (v * 1000.0).round() / 1000.0 } else { 0.0 }
}
