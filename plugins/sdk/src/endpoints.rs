//! Helpers shared by the endpoint rules (latency, errors, hotspots,
//! saturation, upstream): Apdex from an endpoint's cumulative buckets, the
//! time a route holds the server, and the fixes several of those rules
//! propose for a route, so
//! the same fix carries the same id (and merges in the ranking) whichever
//! rule found it.

use crate::{Action, Category, Endpoint, Level};

/// Whether a route reads (GET or HEAD), so its responses can be cached.
pub fn is_read(route: &str) -> bool {
    route.starts_with("GET ") || route.starts_with("HEAD ")
}

/// Requests answered within `le_ms`, interpolated linearly between the
/// cumulative buckets; `None` without buckets.
pub fn count_within(endpoint: &Endpoint, le_ms: f64) -> Option<f64> {
    let buckets = &endpoint.buckets;
    let first = buckets.first()?;
    if le_ms <= first.le_ms {
        return Some(first.count as f64 * le_ms / first.le_ms);
    }
    for pair in buckets.windows(2) {
        let (low, high) = (&pair[0], &pair[1]);
        if le_ms <= high.le_ms {
            let t = (le_ms - low.le_ms) / (high.le_ms - low.le_ms);
            return Some(low.count as f64 + t * (high.count as f64 - low.count as f64));
        }
    }
    buckets.last().map(|b| b.count as f64)
}

/// Apdex for target `t_ms`: (satisfied + tolerating ÷ 2) ÷ requests, where
/// satisfied answered within T and tolerating within 4T. Failed requests
/// count as frustrated. `None` without buckets or requests.
pub fn apdex(endpoint: &Endpoint, t_ms: f64) -> Option<f64> {
    if endpoint.requests == 0 {
        return None;
    }
    let satisfied = count_within(endpoint, t_ms)?;
    let tolerating = count_within(endpoint, 4.0 * t_ms)? - satisfied;
    Some(((satisfied + tolerating / 2.0) / endpoint.requests as f64).clamp(0.0, 1.0))
}

/// The target of a finding about a whole service: `service web`, so every
/// rule about a service (error bursts, saturated workers) names it the same way.
pub fn service_target(service: &str) -> String {
    format!("service {service}")
}

/// Server time the route took over its window, in seconds: requests × mean latency.
pub fn busy_seconds(endpoint: &Endpoint) -> f64 {
    endpoint.requests as f64 * endpoint.latency.mean_ms / 1000.0
}

/// Cache a read route's responses (HTTP cache, reverse proxy, or application cache).
pub fn cache_route(route: &str, impact: f64) -> Action {
    Action::new("endpoint.cache-route", format!("Cache the responses of {route}"), Category::Software)
        .detail(format!(
            "{route} is a read: serve repeated requests from a cache instead of recomputing them \
             (nginx `proxy_cache` with a short TTL, `Cache-Control` for clients, or an application \
             cache such as Redis keyed by the route's parameters), invalidated on writes."
        ))
        .impact(impact)
        .confidence(0.6)
        .effort(Level::Medium)
        .risk(Level::Medium)
}

/// Make the route's queries cheaper: an index for its lookups, pages for its lists.
pub fn index_or_paginate(route: &str, impact: f64) -> Action {
    Action::new("endpoint.index-or-paginate", format!("Add an index or paginate {route}"), Category::Software)
        .detail(format!(
            "Slow answers on {route} usually come from the database: find its queries \
             (pg_stat_statements or the slow query log), add the index their WHERE and ORDER BY \
             need, and page or limit what it returns instead of loading whole tables."
        ))
        .impact(impact)
        .confidence(0.5)
        .effort(Level::Medium)
}

/// Find and fix whatever the route depends on that fails.
pub fn fix_failing_dependency(target: &str, impact: f64) -> Action {
    Action::new(
        "endpoint.fix-failing-dependency",
        format!("Fix the failing dependency behind {target}"),
        Category::Software,
    )
    .detail(format!(
        "Server errors on {target} come from the application or something it calls: read the \
             application and nginx error logs for the failing requests (502/504 mean the upstream \
             died or timed out), check the database and external services it depends on, and roll \
             back a recent deploy if the errors started with it."
    ))
    .impact(impact)
    .confidence(0.6)
    .effort(Level::Medium)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Latency, testing};

    fn endpoint(requests: u64, buckets: &[(f64, u64)]) -> Endpoint {
        let latency = Latency { mean_ms: 20.0, ..testing::uniform_latency(0.0) };
        Endpoint {
            buckets: testing::buckets(buckets),
            window_ms: 1000,
            ..testing::endpoint("GET /", requests, latency)
        }
    }

    #[test]
    fn apdex_counts_satisfied_and_half_the_tolerating() {
        let e = endpoint(100, &[(100.0, 60), (400.0, 90), (1000.0, 100)]);
        assert_eq!(apdex(&e, 100.0), Some((60.0 + 30.0 / 2.0) / 100.0));
        // T between bounds interpolates: 250 → 75 satisfied, 1000 → 100 within 4T.
        assert_eq!(apdex(&e, 250.0), Some((75.0 + 25.0 / 2.0) / 100.0));
        assert_eq!(apdex(&endpoint(100, &[]), 100.0), None);
        assert_eq!(busy_seconds(&e), 2.0);
    }

    #[test]
    fn reads_are_cacheable() {
        assert!(is_read("GET /api/contacts/:id"));
        assert!(!is_read("POST /api/contacts"));
    }

    #[test]
    fn services_are_named_as_targets() {
        assert_eq!(service_target("crm"), "service crm");
    }
}
