//! `{{name}}`: flags endpoints whose p95 latency breaks their SLO.
//!
//! An example rule from `perfsage plugin new`: edit `describe()` and `check()`
//! to check what your team knows matters. Build it with
//! `cargo build --release --target wasm32-wasip2`, test it with
//! `perfsage plugin test target/wasm32-wasip2/release/{{crate_ident}}.wasm --cases cases.toml`.

use perfsage_sdk::*;

pub struct Rule;

impl perfsage_sdk::Rule for Rule {
    fn describe() -> RuleInfo {
        RuleInfo::new("{{name}}", env!("CARGO_PKG_VERSION"), "Endpoints slower than their p95 SLO", Category::Software)
            .needs(&[Section::Endpoints])
            .param(param::number("p95_slo_ms", "p95 latency an endpoint must stay under", "ms", 500.0).range(1.0, 600_000.0))
            .param(param::integer("min_requests", "Ignore endpoints with fewer requests in the window", "requests", 100).min(0.0))
    }

    fn check(snapshot: &Snapshot, config: &Config) -> Result<Vec<Finding>, String> {
        let slo_ms = config.number("p95_slo_ms");
        let min_requests = config.integer("min_requests");
        let endpoints = snapshot.endpoints.as_deref().unwrap_or_default();
        Ok(endpoints
            .iter()
            .filter(|e| e.requests as i64 >= min_requests && e.latency.p95_ms > slo_ms)
            .map(|e| {
                let p95 = e.latency.p95_ms;
                let title = format!("{} p95 is {p95:.0} ms, over its {slo_ms:.0} ms SLO", e.route);
                Finding::new("{{name}}/slow-endpoint", title, Category::Software, severity::by_ratio(p95 / slo_ms), &e.route)
                    .evidence("p95 latency", p95, slo_ms, "ms")
                    .action(
                        Action::new("{{name}}.profile-endpoint", format!("Profile {}", e.route), Category::Software)
                            .detail("Trace a slow request end to end and fix the slowest span (query, lock, remote call).")
                            .impact(0.6)
                            .confidence(0.6)
                            .effort(Level::Medium),
                    )
            })
            .collect())
    }
}

export_rule!(Rule);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fixture_has_one_slow_endpoint() {
        let snapshot = testing::snapshot_from_json(include_str!("../fixtures/slow-endpoint.json")).unwrap();
        let findings = testing::check::<Rule>(&snapshot, vec![]).unwrap();
        let targets: Vec<&str> = findings.iter().map(|f| f.target.as_str()).collect();
        assert_eq!(targets, ["GET /api/reports/pipeline"]);
    }
}
