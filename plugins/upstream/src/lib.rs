//! Built-in rule plugin `upstream`: is the time lost in the proxy or in the application?
//!
//! For routes whose endpoint carries the upstream latency (nginx's
//! `$upstream_response_time` beside `$request_time`), with at least
//! `min_requests` requests:
//!
//! - **proxy overhead** (`upstream/proxy-overhead`): mean request time minus
//!   mean upstream time is time spent between client and application (the
//!   proxy, the network, slow clients, buffering). Above `overhead_min_ms`
//!   and `overhead_high_pct` of the request time: `medium`, `high` from half.
//! - **application** (`upstream/application`): the route's p95 is above
//!   `slow_p95_ms` and the upstream accounts for at least `app_share_pct` of
//!   its mean time: the application (or its database) is the place to look,
//!   not nginx. `medium`, `high` from four times the objective.
//!
//! Actions: tune keep-alive to the upstream and proxy buffers for overhead;
//! make the route's queries cheaper (or cache it) for application time.

use perfsage_sdk::endpoints::{cache_route, index_or_paginate, is_read};
use perfsage_sdk::*;

/// The `upstream` rule plugin.
pub struct Plugin;

impl Rule for Plugin {
    fn describe() -> RuleInfo {
        RuleInfo::new(
            "upstream",
            env!("CARGO_PKG_VERSION"),
            "Request time split between proxy/network and the application",
            Category::Network,
        )
        .needs(&[Section::Endpoints])
        .param(
            param::number(
                "overhead_high_pct",
                "Share of request time spent outside the application above which the proxy path is suspect",
                "%",
                25.0,
            )
            .range(1.0, 100.0),
        )
        .param(
            param::number(
                "overhead_min_ms",
                "Mean time outside the application below which it is not worth chasing",
                "ms",
                10.0,
            )
            .min(0.0),
        )
        .param(
            param::number("slow_p95_ms", "p95 above which a route's application time is examined", "ms", 500.0)
                .range(1.0, 600_000.0),
        )
        .param(
            param::number(
                "app_share_pct",
                "Share of request time in the application above which the application is the bottleneck",
                "%",
                85.0,
            )
            .range(1.0, 100.0),
        )
        .param(param::integer("min_requests", "Routes with fewer requests are not judged", "", 20).min(1.0))
    }

    fn check(snapshot: &Snapshot, config: &Config) -> Result<Vec<Finding>, String> {
        let endpoints = snapshot.endpoints.as_deref().ok_or("the snapshot has no endpoints section")?;
        let min_requests = config.integer("min_requests") as u64;
        let mut findings = Vec::new();
        for e in endpoints.iter().filter(|e| e.requests >= min_requests) {
            let Some(upstream) = &e.upstream_latency else { continue };
            if e.latency.mean_ms <= 0.0 {
                continue;
            }
            let overhead_ms = (e.latency.mean_ms - upstream.mean_ms).max(0.0);
            let overhead_pct = metrics::pct(overhead_ms, e.latency.mean_ms);
            let threshold = config.number("overhead_high_pct");
            if overhead_pct > threshold && overhead_ms >= config.number("overhead_min_ms") {
                findings.push(proxy_overhead(e, overhead_ms, overhead_pct, threshold));
            }
            let slow = config.number("slow_p95_ms");
            let app_share = 100.0 - overhead_pct;
            if e.latency.p95_ms > slow && app_share >= config.number("app_share_pct") {
                findings.push(application(e, upstream, app_share, slow));
            }
        }
        Ok(findings)
    }
}

export_rule!(Plugin);

fn proxy_overhead(e: &Endpoint, overhead_ms: f64, overhead_pct: f64, threshold: f64) -> Finding {
    let route = &e.route;
    let severity = severity::high_from(overhead_pct, 50.0);
    let title = format!(
        "{route} spends {overhead_ms:.0} ms of its {:.0} ms mean outside the application ({overhead_pct:.0}%)",
        e.latency.mean_ms
    );
    Finding::new("upstream/proxy-overhead", title, Category::Network, severity, route.clone())
        .evidence("time outside the upstream", overhead_pct, threshold, "%")
        .evidence("mean time outside the upstream", overhead_ms, 0.0, "ms")
        .action(
            Action::new(
                "proxy.tune-keepalive-buffers",
                format!("Tune keep-alive and buffers for {route}"),
                Category::Network,
            )
            .detail(
                "Time between the client and the application is lost in the proxy path: keep connections \
                     to the upstream open (`keepalive 32;` in the upstream block with `proxy_http_version 1.1` \
                     and an empty `Connection` header), size `proxy_buffers` so answers are not spooled to \
                     temporary files, and check for slow clients on large responses (compression, \
                     `sendfile`, a CDN for static assets).",
            )
            .impact((overhead_pct / 100.0).min(0.9))
            .confidence(0.6)
            .effort(Level::Low)
            .hook("nginx-upstream-keepalive")
            .param("route", route),
        )
}

fn application(e: &Endpoint, upstream: &Latency, app_share: f64, slow: f64) -> Finding {
    let route = &e.route;
    let severity = severity::high_from(e.latency.p95_ms, 4.0 * slow);
    let title = format!(
        "{route} is slow in the application: upstream p95 {:.0} ms, {app_share:.0}% of its time",
        upstream.p95_ms
    );
    let mut finding = Finding::new("upstream/application", title, Category::Software, severity, route.clone())
        .evidence("p95 latency", e.latency.p95_ms, slow, "ms")
        .evidence("share of time in the upstream", app_share, 0.0, "%");
    if is_read(route) {
        finding = finding.action(cache_route(route, 0.6));
    }
    finding.action(index_or_paginate(route, 0.6))
}

#[cfg(test)]
mod tests {
    use super::*;
    use perfsage_sdk::testing::{self, check};

    fn latency(p95_ms: f64, mean_ms: f64) -> Latency {
        Latency { p50_ms: mean_ms, p90_ms: p95_ms, p95_ms, p99_ms: p95_ms, p999_ms: p95_ms, max_ms: p95_ms, mean_ms }
    }

    fn endpoint(route: &str, total: Latency, upstream: Option<Latency>) -> Endpoint {
        let route = testing::endpoint(route, 500, total);
        Endpoint { throughput_rps: 5.0, upstream_latency: upstream, window_ms: 100_000, ..route }
    }

    fn snapshot(endpoints: Vec<Endpoint>) -> Snapshot {
        Snapshot { endpoints: Some(endpoints), ..testing::empty_snapshot() }
    }

    #[test]
    fn time_outside_the_upstream_points_at_the_proxy() {
        let e = endpoint("GET /export", latency(300.0, 120.0), Some(latency(100.0, 40.0)));
        let findings = check::<Plugin>(&snapshot(vec![e]), vec![]).unwrap();
        assert_eq!((findings[0].rule.as_str(), findings[0].severity), ("upstream/proxy-overhead", Severity::High));
    }

    #[test]
    fn slow_upstream_points_at_the_application_and_no_upstream_is_silent() {
        let e = endpoint("POST /import", latency(2500.0, 900.0), Some(latency(2490.0, 890.0)));
        let findings = check::<Plugin>(&snapshot(vec![e]), vec![]).unwrap();
        assert_eq!(findings.len(), 1);
        assert_eq!((findings[0].rule.as_str(), findings[0].severity), ("upstream/application", Severity::High));
        assert!(
            check::<Plugin>(&snapshot(vec![endpoint("GET /", latency(2500.0, 900.0), None)]), vec![])
                .unwrap()
                .is_empty()
        );
    }
}
