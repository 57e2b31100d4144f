//! Built-in rule plugin `latency`: does a route answer within its objective?
//!
//! Per route with at least `min_requests` requests (`latency/objective`):
//!
//! - p95 above `p95_objective_ms` or p99 above `p99_objective_ms`; severity
//!   scales with the worse of the two ratios (over: `medium`, twice: `high`,
//!   four times: `critical`);
//! - or Apdex for target `apdex_t_ms` below `apdex_min` (from the endpoint's
//!   cumulative buckets, when it has them): `medium`.
//!
//! Actions: a read route (GET, HEAD) can be cached; any slow route is
//! usually slow in its queries (add an index or paginate). Where the time
//! goes between proxy and application is the `upstream` rule's question.

use perfsage_sdk::endpoints::{apdex, cache_route, index_or_paginate, is_read};
use perfsage_sdk::*;

/// The `latency` rule plugin.
pub struct Plugin;

impl Rule for Plugin {
    fn describe() -> RuleInfo {
        RuleInfo::new(
            "latency",
            env!("CARGO_PKG_VERSION"),
            "Per-route latency objectives (p95, p99) and Apdex",
            Category::Software,
        )
        .needs(&[Section::Endpoints])
        .param(
            param::number("p95_objective_ms", "95th-percentile latency a route should stay under", "ms", 500.0)
                .range(1.0, 600_000.0),
        )
        .param(
            param::number("p99_objective_ms", "99th-percentile latency a route should stay under", "ms", 1500.0)
                .range(1.0, 600_000.0),
        )
        .param(
            param::number(
                "apdex_t_ms",
                "Apdex target T: answers within T satisfy, within 4T are tolerated",
                "ms",
                500.0,
            )
            .range(1.0, 600_000.0),
        )
        .param(param::number("apdex_min", "Apdex below which users are unhappy with a route", "", 0.85).range(0.0, 1.0))
        .param(param::integer("min_requests", "Routes with fewer requests are not judged", "", 20).min(1.0))
    }

    fn check(snapshot: &Snapshot, config: &Config) -> Result<Vec<Finding>, String> {
        let endpoints = snapshot.endpoints.as_deref().ok_or("the snapshot has no endpoints section")?;
        let objectives = Objectives {
            p95_ms: config.number("p95_objective_ms"),
            p99_ms: config.number("p99_objective_ms"),
            apdex_t_ms: config.number("apdex_t_ms"),
            apdex_min: config.number("apdex_min"),
        };
        let min_requests = config.integer("min_requests") as u64;
        Ok(endpoints.iter().filter(|e| e.requests >= min_requests).filter_map(|e| objective(e, &objectives)).collect())
    }
}

export_rule!(Plugin);

struct Objectives {
    p95_ms: f64,
    p99_ms: f64,
    apdex_t_ms: f64,
    apdex_min: f64,
}

fn objective(endpoint: &Endpoint, o: &Objectives) -> Option<Finding> {
    let l = &endpoint.latency;
    let ratio = (l.p95_ms / o.p95_ms).max(l.p99_ms / o.p99_ms);
    let score = apdex(endpoint, o.apdex_t_ms);
    let unhappy = score.is_some_and(|a| a < o.apdex_min);
    if ratio <= 1.0 && !unhappy {
        return None;
    }
    let severity = if ratio > 1.0 { severity::by_ratio(ratio) } else { Severity::Medium };
    let route = &endpoint.route;
    let apdex_text = score.map_or(String::new(), |a| format!(", Apdex {a:.2}"));
    let title = format!(
        "{route} is slow: p95 {:.0} ms, p99 {:.0} ms (objectives {:.0}/{:.0} ms){apdex_text}",
        l.p95_ms, l.p99_ms, o.p95_ms, o.p99_ms
    );
    let mut finding = Finding::new("latency/objective", title, Category::Software, severity, route.clone())
        .evidence("p95 latency", l.p95_ms, o.p95_ms, "ms")
        .evidence("p99 latency", l.p99_ms, o.p99_ms, "ms");
    if let Some(a) = score {
        finding = finding.evidence(format!("apdex (T = {:.0} ms)", o.apdex_t_ms), a, o.apdex_min, "");
    }
    // The share of the slowness a fix could remove: what lies above the objective.
    let excess = (1.0 - 1.0 / ratio.max(1.0)).max(0.3);
    if is_read(route) {
        finding = finding.action(cache_route(route, excess));
    }
    Some(finding.action(index_or_paginate(route, excess)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use perfsage_sdk::testing::{self, check};

    pub(crate) fn endpoint(route: &str, p95_ms: f64, p99_ms: f64, buckets: &[(f64, u64)]) -> Endpoint {
        let latency = Latency {
            p50_ms: p95_ms / 3.0,
            p90_ms: p95_ms * 0.8,
            p95_ms,
            p99_ms,
            p999_ms: p99_ms,
            max_ms: p99_ms,
            mean_ms: p95_ms / 2.5,
        };
        let route = testing::endpoint(route, 1000, latency);
        Endpoint { throughput_rps: 10.0, buckets: testing::buckets(buckets), window_ms: 100_000, ..route }
    }

    fn snapshot(endpoints: Vec<Endpoint>) -> Snapshot {
        Snapshot { endpoints: Some(endpoints), ..testing::empty_snapshot() }
    }

    #[test]
    fn fast_routes_are_silent_and_slow_ones_scale() {
        let fast = endpoint("GET /a", 100.0, 300.0, &[(500.0, 1000)]);
        assert!(check::<Plugin>(&snapshot(vec![fast]), vec![]).unwrap().is_empty());
        let slow = endpoint("GET /reports", 2100.0, 2500.0, &[]);
        let findings = check::<Plugin>(&snapshot(vec![slow]), vec![]).unwrap();
        assert_eq!(findings[0].severity, Severity::Critical);
        let ids: Vec<&str> = findings[0].actions.iter().map(|a| a.id.as_str()).collect();
        assert_eq!(ids, ["endpoint.cache-route", "endpoint.index-or-paginate"]);
    }

    #[test]
    fn low_apdex_fires_even_within_percentile_objectives() {
        // p95 within 500 ms but only 50% answered within T = 100 ms.
        let e = endpoint("POST /a", 450.0, 900.0, &[(100.0, 500), (400.0, 700), (1000.0, 1000)]);
        let overrides = vec![ConfigEntry { name: "apdex_t_ms".into(), value: ParamValue::Number(100.0) }];
        let findings = check::<Plugin>(&snapshot(vec![e]), overrides).unwrap();
        assert_eq!(findings.len(), 1);
        assert_eq!(findings[0].severity, Severity::Medium);
        assert_eq!(findings[0].actions.len(), 1, "a write is not cached");
    }
}
