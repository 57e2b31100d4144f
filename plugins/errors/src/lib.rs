//! Built-in rule plugin `errors`: which routes fail, and when did failures burst?
//!
//! - **rate** (`errors/rate`): per route with at least `min_requests`
//!   requests, the share answered with a 5xx (or, for a probe, not answered
//!   at all) above `error_rate_pct`. Severity by ratio to the threshold:
//!   over it `medium`, four times `high`, ten times `critical`.
//! - **burst** (`errors/burst`): in the per-minute series `http_requests` and
//!   `http_errors` (same labels), minutes whose error share reaches
//!   `burst_error_pct` with at least `burst_min_errors` errors, and at least
//!   three times the series' overall share: an outage or a bad deploy rather
//!   than a steady trickle. `high`, `critical` when a burst lasts five minutes or more.
//!
//! Actions: fix the failing dependency (the route's or the service's), and
//! put a timeout and circuit breaker in front of it so one failing
//! dependency does not take every worker down with it.

use perfsage_sdk::contract::series::{HTTP_ERRORS, HTTP_REQUESTS};
use perfsage_sdk::endpoints::{fix_failing_dependency, service_target};
use perfsage_sdk::*;

/// The `errors` rule plugin.
pub struct Plugin;

/// A burst at least this many times the overall error share.
const BURST_OVER_BASELINE: f64 = 3.0;
/// Burst minutes from which the burst is critical.
const LONG_BURST_MINUTES: usize = 5;

impl Rule for Plugin {
    fn describe() -> RuleInfo {
        RuleInfo::new(
            "errors",
            env!("CARGO_PKG_VERSION"),
            "Per-route server error rate and error bursts over time",
            Category::Software,
        )
        .needs(&[Section::Endpoints])
        .uses(&[Section::Series])
        .param(
            param::number(
                "error_rate_pct",
                "Share of a route's requests failing (5xx) above which it is broken",
                "%",
                1.0,
            )
            .range(0.01, 100.0),
        )
        .param(param::integer("min_requests", "Routes with fewer requests are not judged", "", 20).min(1.0))
        .param(
            param::number("burst_error_pct", "Share of a minute's requests failing that makes a burst", "%", 10.0)
                .range(0.1, 100.0),
        )
        .param(param::integer("burst_min_errors", "Errors a minute needs to count as a burst", "", 10).min(1.0))
    }

    fn check(snapshot: &Snapshot, config: &Config) -> Result<Vec<Finding>, String> {
        let endpoints = snapshot.endpoints.as_deref().ok_or("the snapshot has no endpoints section")?;
        let threshold = config.number("error_rate_pct");
        let min_requests = config.integer("min_requests") as u64;
        let mut findings: Vec<Finding> =
            endpoints.iter().filter(|e| e.requests >= min_requests).filter_map(|e| rate(e, threshold)).collect();
        let burst = Burst {
            error_pct: config.number("burst_error_pct"),
            min_errors: config.integer("burst_min_errors") as f64,
        };
        findings.extend(bursts(snapshot.series.as_deref().unwrap_or_default(), &burst));
        Ok(findings)
    }
}

export_rule!(Plugin);

fn rate(endpoint: &Endpoint, threshold: f64) -> Option<Finding> {
    let observed = metrics::pct(endpoint.errors as f64, endpoint.requests as f64);
    if observed <= threshold {
        return None;
    }
    let ratio = observed / threshold;
    let severity = severity::rising(ratio, 4.0, 10.0);
    let route = &endpoint.route;
    let title = format!(
        "{route} fails {observed:.1}% of requests ({} of {}, threshold {threshold}%)",
        endpoint.errors, endpoint.requests
    );
    Some(
        Finding::new("errors/rate", title, Category::Software, severity, route.clone())
            .evidence("server error rate", observed, threshold, "%")
            .action(fix_failing_dependency(route, 0.9))
            .action(circuit_breaker(route)),
    )
}

struct Burst {
    error_pct: f64,
    min_errors: f64,
}

fn bursts(all: &[Series], burst: &Burst) -> Vec<Finding> {
    let mut findings = Vec::new();
    for errors in all.iter().filter(|s| s.name == HTTP_ERRORS) {
        let Some(requests) = series::with_same_labels(all, HTTP_REQUESTS, errors) else { continue };
        let total_requests: f64 = requests.values.iter().sum();
        let baseline = metrics::pct(errors.values.iter().sum(), total_requests);
        // (errors, requests) for each minute of the requests series.
        let by_minute: Vec<(f64, f64)> =
            series::pairs_by_time(requests, errors).into_iter().map(|(r, e)| (e, r)).collect();
        let burst_minutes: Vec<f64> = by_minute
            .iter()
            .map(|(e, r)| (*e, metrics::pct(*e, *r)))
            .filter(|(e, share)| {
                *e >= burst.min_errors && *share >= burst.error_pct && *share >= baseline * BURST_OVER_BASELINE
            })
            .map(|(_, share)| share)
            .collect();
        let Some(worst) = burst_minutes.iter().copied().reduce(f64::max) else { continue };
        let service = series::service(errors);
        let target = service_target(service);
        let severity = if burst_minutes.len() >= LONG_BURST_MINUTES { Severity::Critical } else { Severity::High };
        let title = format!(
            "Error burst on {service}: {} minutes with up to {worst:.0}% of requests failing (overall {baseline:.1}%)",
            burst_minutes.len()
        );
        findings.push(
            Finding::new("errors/burst", title, Category::Software, severity, target.clone())
                .evidence("worst minute error rate", worst, burst.error_pct, "%")
                .evidence("burst minutes", burst_minutes.len() as f64, 1.0, "min")
                .action(fix_failing_dependency(&target, 0.8))
                .action(circuit_breaker(&target)),
        );
    }
    findings
}

fn circuit_breaker(target: &str) -> Action {
    Action::new("endpoint.add-circuit-breaker", format!("Bound the damage of failures on {target}"), Category::Software)
        .detail(format!(
            "Give the calls behind {target} a short timeout and a circuit breaker, and let nginx \
             retry idempotent requests on another upstream (`proxy_next_upstream error timeout`), \
             so a failing dependency fails fast instead of holding workers until they all wait on it."
        ))
        .impact(0.3)
        .confidence(0.5)
        .effort(Level::Medium)
}

#[cfg(test)]
mod tests {
    use super::*;
    use perfsage_sdk::testing::{self, check};

    fn endpoint(route: &str, requests: u64, errors: u64) -> Endpoint {
        Endpoint { errors, ..testing::endpoint(route, requests, testing::uniform_latency(12.0)) }
    }

    fn series(name: &str, values: &[f64]) -> Series {
        testing::series_per_minute(name, "web", values)
    }

    fn snapshot(endpoints: Vec<Endpoint>, series: Vec<Series>) -> Snapshot {
        Snapshot { endpoints: Some(endpoints), series: Some(series), ..testing::empty_snapshot() }
    }

    #[test]
    fn error_rate_scales_and_small_routes_are_ignored() {
        let s = snapshot(
            vec![endpoint("GET /ok", 1000, 5), endpoint("POST /pay", 1000, 150), endpoint("GET /rare", 10, 10)],
            vec![],
        );
        let findings = check::<Plugin>(&s, vec![]).unwrap();
        assert_eq!(findings.len(), 1);
        assert_eq!((findings[0].target.as_str(), findings[0].severity), ("POST /pay", Severity::Critical));
    }

    #[test]
    fn a_burst_stands_out_of_a_steady_trickle() {
        let requests = series(HTTP_REQUESTS, &[1000.0; 10]);
        let steady = series(HTTP_ERRORS, &[5.0; 10]);
        assert!(check::<Plugin>(&snapshot(vec![], vec![requests.clone(), steady]), vec![]).unwrap().is_empty());
        let burst = series(HTTP_ERRORS, &[5.0, 5.0, 400.0, 350.0, 5.0, 5.0, 5.0, 5.0, 5.0, 5.0]);
        let findings = check::<Plugin>(&snapshot(vec![], vec![requests, burst]), vec![]).unwrap();
        assert_eq!((findings[0].rule.as_str(), findings[0].severity), ("errors/burst", Severity::High));
        assert_eq!(findings[0].evidence[0].observed, 40.0);
    }
}
