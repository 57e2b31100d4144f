//! Application histograms and request counters turned into snapshot endpoints.
//!
//! Both Prometheus paths feed this module the same shape: what was observed
//! over one window, per labelled series: bucket counts by upper bound, request
//! counts (with a status label where there is one), and observed time. A
//! scrape gets those as differences of two expositions (or the cumulative
//! totals of a single reading); the fleet gets them from `increase(...)`
//! queries. Series are grouped by (service, method, route) through the label
//! names of `[prometheus.endpoints]`: statuses and any other labels are summed
//! away, as `sum by (le, route, method)` would.
//!
//! Percentiles are interpolated from the merged buckets exactly as PromQL's
//! `histogram_quantile` does (linear within the bucket; the `+Inf` bucket
//! answers with the largest finite bound), so the snapshot agrees with the
//! team's dashboards. `max` is `histogram_quantile(1, ...)`: the upper bound of
//! the highest bucket that saw a request, an upper estimate.

use std::collections::BTreeMap;

use crate::histogram::round3;
use perfsage_model::{Bucket, Endpoint, Latency};

use super::settings::EndpointMetrics;

/// Labels of one series, as (name, value) pairs.
pub type Labels = [(String, String)];

/// Owned labels of one series.
pub type LabelSet = Vec<(String, String)>;

/// What one source observed over one window.
#[derive(Debug, Default)]
pub struct Observations {
    /// (labels, upper bound in ms, observations at or under it).
    pub buckets: Vec<(LabelSet, f64, f64)>,
    /// (labels, requests) from histogram `_count` series.
    pub histogram_counts: Vec<(LabelSet, f64)>,
    /// (labels, requests) from request counters; preferred for requests and errors.
    pub counter_counts: Vec<(LabelSet, f64)>,
    /// (labels, total observed ms).
    pub sums_ms: Vec<(LabelSet, f64)>,
}

/// Where an endpoint's series come from and how long the window was.
#[derive(Debug, Clone)]
pub struct EndpointContext<'a> {
    pub metrics: &'a EndpointMetrics,
    /// The service name when no service label is present (host:port, instance).
    pub default_service: &'a str,
    /// The window the observations cover; `None` for cumulative totals (a
    /// single reading), which have no throughput.
    pub window_ms: Option<u64>,
}

type Key = (String, String, String);

#[derive(Default)]
struct Accumulated {
    /// Upper bound (as ordered bits of a positive f64) to count.
    buckets: BTreeMap<u64, f64>,
    histogram_requests: Option<Counts>,
    counter_requests: Option<Counts>,
    sum_ms: f64,
}

#[derive(Default, Clone, Copy)]
struct Counts {
    total: f64,
    server_errors: f64,
    client_errors: f64,
}

impl Counts {
    fn add(&mut self, status: Option<&str>, value: f64) {
        self.total += value;
        match status.and_then(|s| s.chars().next()) {
            Some('5') => self.server_errors += value,
            Some('4') => self.client_errors += value,
            _ => {}
        }
    }
}

/// Group the observations into endpoints, ordered by service and route; an
/// endpoint without a request in the window is left out.
pub fn endpoints(observations: &Observations, context: &EndpointContext) -> Vec<Endpoint> {
    let mut by_key: BTreeMap<Key, Accumulated> = BTreeMap::new();
    let metrics = context.metrics;
    for (labels, le_ms, count) in &observations.buckets {
        let bucket = by_key.entry(key(labels, context)).or_default().buckets.entry(order_bits(*le_ms)).or_insert(0.0);
        *bucket += count;
    }
    for (labels, value) in &observations.histogram_counts {
        let status = first_label(labels, &metrics.status_labels);
        by_key.entry(key(labels, context)).or_default().histogram_requests.get_or_insert_default().add(status, *value);
    }
    for (labels, value) in &observations.counter_counts {
        let status = first_label(labels, &metrics.status_labels);
        by_key.entry(key(labels, context)).or_default().counter_requests.get_or_insert_default().add(status, *value);
    }
    for (labels, value) in &observations.sums_ms {
        by_key.entry(key(labels, context)).or_default().sum_ms += value;
    }
    by_key
        .into_iter()
        .filter_map(|((service, method, route), acc)| {
            let buckets: Vec<(f64, f64)> =
                acc.buckets.iter().map(|(bits, count)| (from_order_bits(*bits), *count)).collect();
            let bucket_total = buckets.last().filter(|(le, _)| le.is_infinite()).map(|(_, c)| *c);
            let counts = acc
                .counter_requests
                .or(acc.histogram_requests)
                .unwrap_or(Counts { total: bucket_total.unwrap_or(0.0), ..Counts::default() });
            if counts.total <= 0.0 {
                return None;
            }
            let q = |q: f64| round3(histogram_quantile(q, &buckets).unwrap_or(0.0));
            let histogram_observations = bucket_total.unwrap_or(counts.total);
            let mean_ms = if histogram_observations > 0.0 { acc.sum_ms / histogram_observations } else { 0.0 };
            let window_ms = context.window_ms.unwrap_or(0);
            Some(Endpoint {
                service,
                route: if method.is_empty() { route } else { format!("{method} {route}") },
                requests: counts.total.round() as u64,
                errors: counts.server_errors.round() as u64,
                client_errors: counts.client_errors.round() as u64,
                throughput_rps: if window_ms > 0 { round3(counts.total / (window_ms as f64 / 1000.0)) } else { 0.0 },
                latency: Latency {
                    p50_ms: q(0.5),
                    p90_ms: q(0.9),
                    p95_ms: q(0.95),
                    p99_ms: q(0.99),
                    p999_ms: q(0.999),
                    max_ms: q(1.0),
                    mean_ms: round3(mean_ms),
                },
                upstream_latency: None,
                buckets: buckets
                    .iter()
                    .filter(|(le, _)| le.is_finite())
                    .map(|(le, count)| Bucket { le_ms: round3(*le), count: count.round() as u64 })
                    .collect(),
                window_ms,
            })
        })
        .collect()
}

fn key(labels: &Labels, context: &EndpointContext) -> Key {
    let metrics = context.metrics;
    let service = first_label(labels, &metrics.service_labels).unwrap_or(context.default_service);
    let method = first_label(labels, &metrics.method_labels).unwrap_or("");
    let route = first_label(labels, &metrics.route_labels).unwrap_or("/");
    (service.to_string(), method.to_ascii_uppercase(), route.to_string())
}

/// The value of the first of `names` that the series has (and is not empty).
pub fn first_label<'a>(labels: &'a Labels, names: &[String]) -> Option<&'a str> {
    names.iter().find_map(|name| labels.iter().find(|(n, v)| n == name && !v.is_empty()).map(|(_, v)| v.as_str()))
}

/// How many ms one unit of a histogram named `family` is: `_milliseconds`
/// and `_ms` histograms are in ms, everything else in seconds.
pub fn unit_to_ms(family: &str) -> f64 {
    if family.ends_with("_milliseconds") || family.ends_with("_ms") { 1.0 } else { 1000.0 }
}

/// Parse a bucket's `le` label (`0.25`, `+Inf`).
pub fn parse_le(text: &str) -> Option<f64> {
    let value: f64 = text.trim().parse().ok()?;
    (!value.is_nan()).then_some(value)
}

/// A total order on non-NaN floats as u64 (positive values sort as their bits).
fn order_bits(value: f64) -> u64 {
    let bits = value.to_bits();
    if value.is_sign_negative() { !bits } else { bits | (1 << 63) }
}

fn from_order_bits(bits: u64) -> f64 {
    if bits & (1 << 63) != 0 { f64::from_bits(bits & !(1 << 63)) } else { f64::from_bits(!bits) }
}

/// PromQL's `histogram_quantile` over cumulative (upper bound, count) buckets
/// sorted by bound: `None` where PromQL answers NaN (no `+Inf` bucket, fewer
/// than two buckets, no observations).
pub fn histogram_quantile(q: f64, buckets: &[(f64, f64)]) -> Option<f64> {
    if q.is_nan() {
        return None;
    }
    if q < 0.0 {
        return Some(f64::NEG_INFINITY);
    }
    if q > 1.0 {
        return Some(f64::INFINITY);
    }
    let mut buckets: Vec<(f64, f64)> = buckets.to_vec();
    buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
    if !buckets.last().is_some_and(|(le, _)| *le == f64::INFINITY) {
        return None;
    }
    // Coalesce equal bounds, then make counts monotonic (a scrape racing an
    // increment can break monotonicity; PromQL repairs it the same way).
    let mut merged: Vec<(f64, f64)> = Vec::with_capacity(buckets.len());
    for (le, count) in buckets {
        match merged.last_mut() {
            Some(last) if last.0 == le => last.1 += count,
            _ => merged.push((le, count)),
        }
    }
    let mut max = f64::NEG_INFINITY;
    for bucket in &mut merged {
        max = max.max(bucket.1);
        bucket.1 = max;
    }
    if merged.len() < 2 {
        return None;
    }
    let observations = merged[merged.len() - 1].1;
    if observations <= 0.0 {
        return None;
    }
    let mut rank = q * observations;
    let b = merged.iter().position(|(_, count)| *count >= rank).unwrap_or(merged.len() - 1);
    if b == merged.len() - 1 {
        return Some(merged[merged.len() - 2].0);
    }
    if b == 0 && merged[0].0 <= 0.0 {
        return Some(merged[0].0);
    }
    let (mut start, end, mut count) = (0.0, merged[b].0, merged[b].1);
    if b > 0 {
        start = merged[b - 1].0;
        count -= merged[b - 1].1;
        rank -= merged[b - 1].1;
    }
    Some(start + (end - start) * (rank / count))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_interpolate_as_promql_does() {
        let buckets = [(0.1, 10.0), (0.5, 60.0), (1.0, 90.0), (f64::INFINITY, 100.0)];
        // rank 50 lies in (0.1, 0.5]: 0.1 + 0.4 * (40 / 50).
        assert!((histogram_quantile(0.5, &buckets).unwrap() - 0.42).abs() < 1e-12);
        // rank 95 is in +Inf: the largest finite bound.
        assert_eq!(histogram_quantile(0.95, &buckets), Some(1.0));
        assert_eq!(histogram_quantile(0.0, &buckets), Some(0.0));
        assert_eq!(histogram_quantile(1.5, &buckets), Some(f64::INFINITY));
        assert_eq!(histogram_quantile(0.5, &[(0.1, 1.0), (1.0, 2.0)]), None);
        assert_eq!(histogram_quantile(0.5, &[(f64::INFINITY, 0.0), (1.0, 0.0)]), None);
    }

    #[test]
    fn ordering_bits_round_trip() {
        for v in [0.0, 0.005, 1.0, 2.5, f64::INFINITY, -1.0] {
            assert_eq!(from_order_bits(order_bits(v)), v);
        }
        assert!(order_bits(0.5) < order_bits(1.0) && order_bits(1.0) < order_bits(f64::INFINITY));
        assert!(order_bits(-1.0) < order_bits(0.0));
    }
}
