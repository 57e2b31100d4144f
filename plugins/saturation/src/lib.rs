//! Built-in rule plugin `saturation`: are the service's workers all busy?
//!
//! - **concurrency** (`saturation/concurrency`): Little's law gives the
//!   requests in flight as throughput × mean latency, summed over a
//!   service's routes. Against the `workers` the service can run at once
//!   (a parameter: the snapshot knows no capacity), a share above
//!   `utilization_high_pct` means requests queue for a worker: `medium`;
//!   90% `high`; at or over capacity `critical`.
//! - **load and latency** (`saturation/load-latency`): in the per-minute
//!   series `http_requests` and `http_latency_mean_ms` (same labels), latency
//!   that rises with load (Pearson correlation at least `correlation_min`)
//!   and is at least `latency_growth` times higher in the busiest quarter of
//!   minutes than in the quietest: the classic knee of a saturated resource.
//!
//! Actions: add workers (sized from the measured concurrency), or scale the
//! tier out when the host itself is the limit.

use std::collections::BTreeMap;

use perfsage_sdk::contract::series::{HTTP_LATENCY_MEAN_MS, HTTP_REQUESTS};
use perfsage_sdk::*;

/// The `saturation` rule plugin.
pub struct Plugin;

/// Target utilization when sizing workers: headroom for bursts.
const SIZING_UTILIZATION: f64 = 0.7;
/// Minutes the series needs before a trend means anything.
const MIN_MINUTES: usize = 8;

impl Rule for Plugin {
    fn describe() -> RuleInfo {
        RuleInfo::new(
            "saturation",
            env!("CARGO_PKG_VERSION"),
            "Worker saturation (Little's law) and latency rising with load",
            Category::Software,
        )
        .needs(&[Section::Endpoints])
        .uses(&[Section::Series])
        .param(param::integer("workers", "Requests the service can serve at once (workers × threads)", "", 64).min(1.0))
        .param(
            param::number("utilization_high_pct", "Busy share of the workers above which requests queue", "%", 80.0)
                .range(1.0, 100.0),
        )
        .param(
            param::number("correlation_min", "Correlation of latency with load that counts as rising with it", "", 0.7)
                .range(0.0, 1.0),
        )
        .param(
            param::number(
                "latency_growth",
                "Busiest-quarter over quietest-quarter latency that counts as a knee",
                "x",
                2.0,
            )
            .range(1.0, 100.0),
        )
    }

    fn check(snapshot: &Snapshot, config: &Config) -> Result<Vec<Finding>, String> {
        let endpoints = snapshot.endpoints.as_deref().ok_or("the snapshot has no endpoints section")?;
        let workers = config.integer("workers") as f64;
        let mut findings = concurrency(endpoints, workers, config.number("utilization_high_pct"));
        let knee = Knee { correlation_min: config.number("correlation_min"), growth: config.number("latency_growth") };
        findings.extend(load_latency(snapshot.series.as_deref().unwrap_or_default(), &knee, workers));
        Ok(findings)
    }
}

export_rule!(Plugin);

fn concurrency(endpoints: &[Endpoint], workers: f64, threshold: f64) -> Vec<Finding> {
    let mut in_flight: BTreeMap<&str, f64> = BTreeMap::new();
    for e in endpoints {
        *in_flight.entry(e.service.as_str()).or_default() += e.throughput_rps * e.latency.mean_ms / 1000.0;
    }
    in_flight
        .into_iter()
        .filter_map(|(service, concurrency)| {
            let utilization = concurrency / workers * 100.0;
            if utilization <= threshold {
                return None;
            }
            let severity = severity::rising(utilization, 90.0, 100.0);
            let title = format!(
                "{service} keeps {concurrency:.0} requests in flight for {workers:.0} workers ({utilization:.0}% busy, threshold {threshold:.0}%)"
            );
            Some(
                Finding::new("saturation/concurrency", title, Category::Software, severity, endpoints::service_target(service))
                    .evidence("requests in flight (throughput × mean latency)", concurrency, workers * threshold / 100.0, "")
                    .evidence("worker utilization", utilization, threshold, "%")
                    .action(add_workers(service, concurrency, workers))
                    .action(scale_out(service)),
            )
        })
        .collect()
}

struct Knee {
    correlation_min: f64,
    growth: f64,
}

fn load_latency(all: &[Series], knee: &Knee, workers: f64) -> Vec<Finding> {
    let mut findings = Vec::new();
    for latency in all.iter().filter(|s| s.name == HTTP_LATENCY_MEAN_MS) {
        let Some(load) = series::with_same_labels(all, HTTP_REQUESTS, latency) else { continue };
        // (requests, latency) for each minute of the requests series.
        let mut points = series::pairs_by_time(load, latency);
        if points.len() < MIN_MINUTES {
            continue;
        }
        let Some(r) = correlation(&points) else { continue };
        points.sort_by(|a, b| a.0.total_cmp(&b.0));
        let quarter = points.len() / 4;
        let mean = |p: &[(f64, f64)]| p.iter().map(|x| x.1).sum::<f64>() / p.len() as f64;
        let (quiet, busy) = (mean(&points[..quarter]), mean(&points[points.len() - quarter..]));
        let growth = if quiet > 0.0 { busy / quiet } else { 0.0 };
        if r < knee.correlation_min || growth < knee.growth {
            continue;
        }
        let service = series::service(latency);
        let title = format!(
            "{service}'s latency rises with load: {busy:.0} ms in its busiest minutes vs {quiet:.0} ms in its quietest (correlation {r:.2})"
        );
        let busiest_rpm = points.last().map_or(0.0, |p| p.0);
        let severity = severity::high_from(growth, 2.0 * knee.growth);
        findings.push(
            Finding::new(
                "saturation/load-latency",
                title,
                Category::Software,
                severity,
                endpoints::service_target(service),
            )
            .evidence("latency growth, busiest vs quietest quarter", growth, knee.growth, "x")
            .evidence("load-latency correlation", r, knee.correlation_min, "")
            .action(add_workers(service, workers * growth.min(4.0) * SIZING_UTILIZATION, workers))
            .action(scale_out(service).detail(format!(
                "Latency climbs with load (up to {busiest_rpm:.0} requests a minute): a resource runs out \
                     at peak. If the host's CPU or the database is that resource, more workers will not \
                     help; add instances behind the load balancer or move the peak's work elsewhere."
            ))),
        );
    }
    findings
}

/// Pearson correlation of the pairs; `None` when either side is constant.
fn correlation(points: &[(f64, f64)]) -> Option<f64> {
    let n = points.len() as f64;
    let (mx, my) = (points.iter().map(|p| p.0).sum::<f64>() / n, points.iter().map(|p| p.1).sum::<f64>() / n);
    let (mut sxy, mut sxx, mut syy) = (0.0, 0.0, 0.0);
    for (x, y) in points {
        sxy += (x - mx) * (y - my);
        sxx += (x - mx).powi(2);
        syy += (y - my).powi(2);
    }
    (sxx > 0.0 && syy > 0.0).then(|| sxy / (sxx * syy).sqrt())
}

fn add_workers(service: &str, concurrency: f64, workers: f64) -> Action {
    let needed = (concurrency / SIZING_UTILIZATION).ceil().max(workers + 1.0);
    Action::new(
        "endpoint.add-workers",
        format!("Raise {service}'s workers from {workers:.0} to about {needed:.0}"),
        Category::Software,
    )
    .detail(format!(
        "By Little's law {service} needs about {concurrency:.0} requests in flight; at {:.0}% \
             utilization that is {needed:.0} workers (php-fpm `pm.max_children`, gunicorn/puma \
             workers × threads, upstream connection limits). Check memory per worker first: more \
             workers than RAM allows trades queueing for swapping.",
        SIZING_UTILIZATION * 100.0
    ))
    .impact(0.7)
    .confidence(0.6)
    .effort(Level::Low)
    .risk(Level::Medium)
    .hook("set-workers")
    .param("service", service)
    .param("workers", needed)
}

fn scale_out(service: &str) -> Action {
    Action::new("endpoint.scale-out", format!("Scale {service} out"), Category::Hardware)
        .detail(format!(
            "Add instances of {service} behind the load balancer when this host's CPU or memory \
             cannot carry more workers."
        ))
        .impact(0.6)
        .confidence(0.5)
        .effort(Level::High)
}

#[cfg(test)]
mod tests {
    use super::*;
    use perfsage_sdk::testing::{self, check};

    fn endpoint(throughput_rps: f64, mean_ms: f64) -> Endpoint {
        let route = testing::endpoint("GET /", 1000, testing::uniform_latency(mean_ms));
        Endpoint { service: "app".into(), throughput_rps, ..route }
    }

    fn series(name: &str, values: &[f64]) -> Series {
        testing::series_per_minute(name, "app", values)
    }

    fn snapshot(endpoints: Vec<Endpoint>, series: Vec<Series>) -> Snapshot {
        Snapshot { endpoints: Some(endpoints), series: Some(series), ..testing::empty_snapshot() }
    }

    #[test]
    fn littles_law_against_workers() {
        // 400 rps × 150 ms = 60 in flight of 64 workers: 94% busy.
        let findings = check::<Plugin>(&snapshot(vec![endpoint(400.0, 150.0)], vec![]), vec![]).unwrap();
        assert_eq!(findings[0].severity, Severity::High);
        assert_eq!(findings[0].actions[0].title, "Raise app's workers from 64 to about 86");
        assert!(check::<Plugin>(&snapshot(vec![endpoint(100.0, 150.0)], vec![]), vec![]).unwrap().is_empty());
    }

    #[test]
    fn latency_rising_with_load_is_a_knee() {
        let load = series(HTTP_REQUESTS, &[100.0, 200.0, 300.0, 400.0, 500.0, 600.0, 700.0, 800.0]);
        let rising = series(HTTP_LATENCY_MEAN_MS, &[20.0, 21.0, 22.0, 25.0, 30.0, 45.0, 80.0, 150.0]);
        let flat = series(HTTP_LATENCY_MEAN_MS, &[20.0, 22.0, 21.0, 20.0, 22.0, 21.0, 20.0, 22.0]);
        let e = vec![endpoint(1.0, 20.0)];
        let findings = check::<Plugin>(&snapshot(e.clone(), vec![load.clone(), rising]), vec![]).unwrap();
        assert_eq!(findings[0].rule, "saturation/load-latency");
        assert!(check::<Plugin>(&snapshot(e, vec![load, flat]), vec![]).unwrap().is_empty());
    }
}
