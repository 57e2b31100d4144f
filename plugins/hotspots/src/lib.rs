//! Built-in rule plugin `hotspots`: which routes hold the server's time?
//!
//! A route's server time is requests × mean latency over the window; its
//! share is that over the sum for its service. A route holding more than
//! `share_high_pct` (`hotspots/route`) is where optimization pays most,
//! whether it is slow or merely frequent: `medium`, `high` from half of the
//! service's time. Services with fewer than `min_routes` routes are not
//! judged (one route always holds everything).
//!
//! Actions: profile the route first (its share is the most any fix can
//! win), cache it when it reads, make its queries cheaper otherwise.

use std::collections::BTreeMap;

use perfsage_sdk::endpoints::{busy_seconds, cache_route, index_or_paginate, is_read};
use perfsage_sdk::*;

/// The `hotspots` rule plugin.
pub struct Plugin;

impl Rule for Plugin {
    fn describe() -> RuleInfo {
        RuleInfo::new(
            "hotspots",
            env!("CARGO_PKG_VERSION"),
            "Routes by share of the total server time",
            Category::Software,
        )
        .needs(&[Section::Endpoints])
        .param(
            param::number(
                "share_high_pct",
                "Share of a service's server time above which a route is a hotspot",
                "%",
                25.0,
            )
            .range(1.0, 100.0),
        )
        .param(param::integer("min_routes", "Services with fewer routes are not judged", "", 3).min(2.0))
    }

    fn check(snapshot: &Snapshot, config: &Config) -> Result<Vec<Finding>, String> {
        let endpoints = snapshot.endpoints.as_deref().ok_or("the snapshot has no endpoints section")?;
        let threshold = config.number("share_high_pct");
        let min_routes = config.integer("min_routes") as usize;
        let mut services: BTreeMap<&str, Vec<&Endpoint>> = BTreeMap::new();
        for e in endpoints {
            services.entry(e.service.as_str()).or_default().push(e);
        }
        let mut findings = Vec::new();
        for (service, routes) in services.into_iter().filter(|(_, r)| r.len() >= min_routes) {
            let total: f64 = routes.iter().map(|e| busy_seconds(e)).sum();
            for e in routes {
                let share = metrics::pct(busy_seconds(e), total);
                if share > threshold {
                    findings.push(hotspot(e, service, share, threshold));
                }
            }
        }
        Ok(findings)
    }
}

export_rule!(Plugin);

fn hotspot(endpoint: &Endpoint, service: &str, share: f64, threshold: f64) -> Finding {
    let route = &endpoint.route;
    let severity = severity::high_from(share, 50.0);
    let title = format!(
        "{route} holds {share:.0}% of {service}'s server time ({} requests × {:.0} ms mean)",
        endpoint.requests, endpoint.latency.mean_ms
    );
    let impact = share / 100.0;
    let mut finding = Finding::new("hotspots/route", title, Category::Software, severity, route.clone())
        .evidence("share of server time", share, threshold, "%")
        .action(
            Action::new("endpoint.profile-route", format!("Profile {route} first"), Category::Software)
                .detail(format!(
                    "{route} takes {share:.0}% of the time {service} spends answering: every millisecond saved \
                     there is worth more than anywhere else. Trace a few slow requests (APM, `EXPLAIN ANALYZE` \
                     of its queries, a flame graph of the worker) to see what it waits on."
                ))
                .impact(impact)
                .confidence(0.7)
                .effort(Level::Low),
        );
    if is_read(route) {
        finding = finding.action(cache_route(route, impact));
    }
    finding.action(index_or_paginate(route, impact * 0.7))
}

#[cfg(test)]
mod tests {
    use super::*;
    use perfsage_sdk::testing::{self, check};

    fn endpoint(route: &str, requests: u64, mean_ms: f64) -> Endpoint {
        testing::endpoint(route, requests, testing::uniform_latency(mean_ms))
    }

    fn snapshot(endpoints: Vec<Endpoint>) -> Snapshot {
        Snapshot { endpoints: Some(endpoints), ..testing::empty_snapshot() }
    }

    #[test]
    fn the_route_holding_most_time_is_named() {
        let s = snapshot(vec![
            endpoint("GET /a", 1000, 10.0),
            endpoint("GET /b", 1000, 10.0),
            endpoint("GET /report", 100, 800.0),
        ]);
        let findings = check::<Plugin>(&s, vec![]).unwrap();
        assert_eq!(findings.len(), 1);
        assert_eq!((findings[0].target.as_str(), findings[0].severity), ("GET /report", Severity::High));
        assert!((findings[0].evidence[0].observed - 80.0).abs() < 1e-9);
    }

    #[test]
    fn evenly_spread_time_is_silent() {
        let s = snapshot((0..5).map(|i| endpoint(&format!("GET /{i}"), 100, 10.0)).collect());
        assert!(check::<Plugin>(&s, vec![]).unwrap().is_empty());
    }
}
