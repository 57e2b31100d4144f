//! Per-route and per-minute accumulation, one accumulator per parsing thread,
//! merged at the end.
//!
//! Each route keeps exact counts, the exact sum and maximum of its request
//! times, and HDR histograms (microseconds, two significant digits: every
//! percentile within 1%) of request and upstream times; a histogram is a few
//! tens of KB whatever the number of requests, so memory grows with the
//! number of distinct routes, not with the log. The minute series keeps three
//! numbers per minute. A route is looked up by its bytes, so a line allocates
//! nothing unless it brings a new route.

use std::collections::{BTreeMap, HashMap};

use hdrhistogram::Histogram;

use crate::model::{Endpoint, Label, Latency, Series};
use crate::sources::histogram::{buckets, round3, summary};

use super::format::Record;

/// Largest time a histogram records (longer ones are clamped to it): one hour in µs.
const MAX_US: u64 = 3_600_000_000;
/// Significant digits kept by every histogram: percentiles are within 1%.
pub const SIGNIFICANT_DIGITS: u8 = 2;
/// How many unparseable lines are kept as examples.
pub const BAD_EXAMPLES: usize = 3;
/// How much of an unparseable line an example keeps.
const EXAMPLE_BYTES: usize = 200;

fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, MAX_US, SIGNIFICANT_DIGITS).expect("static histogram bounds are valid")
}

/// What one route saw.
#[derive(Debug, Clone)]
pub struct RouteStats {
    pub requests: u64,
    pub server_errors: u64,
    pub client_errors: u64,
    /// Requests that carried a request time.
    pub timed: u64,
    pub total_us: u64,
    pub max_us: u64,
    pub latency: Histogram<u64>,
    pub upstream: Histogram<u64>,
    pub upstream_total_us: u64,
    pub upstream_max_us: u64,
}

impl RouteStats {
    fn new() -> Self {
        RouteStats {
            requests: 0,
            server_errors: 0,
            client_errors: 0,
            timed: 0,
            total_us: 0,
            max_us: 0,
            latency: histogram(),
            upstream: histogram(),
            upstream_total_us: 0,
            upstream_max_us: 0,
        }
    }

    fn merge(&mut self, other: &RouteStats) {
        self.requests += other.requests;
        self.server_errors += other.server_errors;
        self.client_errors += other.client_errors;
        self.timed += other.timed;
        self.total_us += other.total_us;
        self.max_us = self.max_us.max(other.max_us);
        self.latency.add(&other.latency).expect("same bounds");
        self.upstream.add(&other.upstream).expect("same bounds");
        self.upstream_total_us += other.upstream_total_us;
        self.upstream_max_us = self.upstream_max_us.max(other.upstream_max_us);
    }

    /// The latency summary: percentiles from the histogram, mean and max exact.
    pub fn latency_summary(&self) -> Latency {
        summary(&self.latency, self.total_us, self.max_us)
    }

    fn upstream_summary(&self) -> Option<Latency> {
        (!self.upstream.is_empty()).then(|| summary(&self.upstream, self.upstream_total_us, self.upstream_max_us))
    }
}

#[derive(Debug, Clone, Copy, Default)]
struct Minute {
    requests: u64,
    errors: u64,
    timed: u64,
    total_us: u64,
}

/// An unparseable line: where it was and how it began.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadLine {
    /// 1-based line number in the file.
    pub line: u64,
    pub reason: &'static str,
    pub text: String,
}

/// Everything one thread (or the merge of all) accumulated.
#[derive(Debug, Clone, Default)]
pub struct Accumulator {
    pub routes: HashMap<Box<[u8]>, RouteStats>,
    minutes: BTreeMap<i64, Minute>,
    current: Option<(i64, Minute)>,
    pub lines: u64,
    pub bad_lines: u64,
    pub bad_examples: Vec<BadLine>,
    pub first_ms: Option<i64>,
    pub last_ms: Option<i64>,
}

impl Accumulator {
    /// Count one parsed line under `route`.
    pub fn add(&mut self, route: &[u8], record: &Record<'_>) {
        self.lines += 1;
        let stats = match self.routes.get_mut(route) {
            Some(stats) => stats,
            None => self.routes.entry(route.into()).or_insert_with(RouteStats::new),
        };
        stats.requests += 1;
        let server_error = record.status >= 500;
        if server_error {
            stats.server_errors += 1;
        } else if record.status >= 400 {
            stats.client_errors += 1;
        }
        if let Some(us) = record.request_us {
            stats.timed += 1;
            stats.total_us += us;
            stats.max_us = stats.max_us.max(us);
            stats.latency.saturating_record(us);
        }
        if let Some(us) = record.upstream_us {
            stats.upstream_total_us += us;
            stats.upstream_max_us = stats.upstream_max_us.max(us);
            stats.upstream.saturating_record(us);
        }
        if let Some(ms) = record.time_ms {
            self.first_ms = Some(self.first_ms.map_or(ms, |f| f.min(ms)));
            self.last_ms = Some(self.last_ms.map_or(ms, |l| l.max(ms)));
            self.count_minute(ms.div_euclid(60_000) * 60_000, server_error, record.request_us);
        }
    }

    fn count_minute(&mut self, minute: i64, error: bool, request_us: Option<u64>) {
        // Lines come in time order: keep the current minute out of the map.
        if self.current.is_none_or(|(m, _)| m != minute) {
            self.flush_minute();
            self.current = Some((minute, self.minutes.remove(&minute).unwrap_or_default()));
        }
        let (_, m) = self.current.as_mut().expect("just set");
        m.requests += 1;
        m.errors += u64::from(error);
        if let Some(us) = request_us {
            m.timed += 1;
            m.total_us += us;
        }
    }

    fn flush_minute(&mut self) {
        if let Some((minute, m)) = self.current.take() {
            self.minutes.insert(minute, m);
        }
    }

    /// Count one line that did not parse; keep the first few. `line` is 1-based within this accumulator's chunk.
    pub fn bad(&mut self, line: u64, reason: &'static str, text: &[u8]) {
        self.lines += 1;
        self.bad_lines += 1;
        if self.bad_examples.len() < BAD_EXAMPLES {
            let text = String::from_utf8_lossy(&text[..text.len().min(EXAMPLE_BYTES)]).into_owned();
            self.bad_examples.push(BadLine { line, reason, text });
        }
    }

    /// Fold a later chunk's accumulator into this one (its line numbers shift by this one's lines).
    pub fn merge(&mut self, mut later: Accumulator) {
        self.flush_minute();
        later.flush_minute();
        let offset = self.lines;
        for mut bad in later.bad_examples {
            if self.bad_examples.len() < BAD_EXAMPLES {
                bad.line += offset;
                self.bad_examples.push(bad);
            }
        }
        self.lines += later.lines;
        self.bad_lines += later.bad_lines;
        for (route, stats) in later.routes {
            match self.routes.get_mut(&route) {
                Some(mine) => mine.merge(&stats),
                None => {
                    self.routes.insert(route, stats);
                }
            }
        }
        for (minute, m) in later.minutes {
            let mine = self.minutes.entry(minute).or_default();
            mine.requests += m.requests;
            mine.errors += m.errors;
            mine.timed += m.timed;
            mine.total_us += m.total_us;
        }
        self.first_ms = [self.first_ms, later.first_ms].into_iter().flatten().min();
        self.last_ms = [self.last_ms, later.last_ms].into_iter().flatten().max();
    }

    /// The window the log covers: first to last request, at least one second.
    pub fn window_ms(&self) -> u64 {
        match (self.first_ms, self.last_ms) {
            (Some(first), Some(last)) => ((last - first) as u64).max(1000),
            _ => 0,
        }
    }

    /// The routes as snapshot endpoints, busiest first (ties by route).
    pub fn endpoints(&self, service: &str) -> Vec<Endpoint> {
        let window_ms = self.window_ms();
        let mut endpoints: Vec<Endpoint> = self
            .routes
            .iter()
            .map(|(route, s)| Endpoint {
                service: service.into(),
                route: String::from_utf8_lossy(route).into_owned(),
                requests: s.requests,
                errors: s.server_errors,
                client_errors: s.client_errors,
                throughput_rps: if window_ms > 0 { round3(s.requests as f64 * 1000.0 / window_ms as f64) } else { 0.0 },
                latency: s.latency_summary(),
                upstream_latency: s.upstream_summary(),
                buckets: if s.timed > 0 { buckets(&s.latency) } else { Vec::new() },
                window_ms,
            })
            .collect();
        endpoints.sort_by(|a, b| b.requests.cmp(&a.requests).then_with(|| a.route.cmp(&b.route)));
        endpoints
    }

    /// The per-minute series: `http_requests`, `http_errors` (5xx) and `http_latency_mean_ms`.
    pub fn series(&mut self, service: &str) -> Vec<Series> {
        self.flush_minute();
        let labels = vec![Label { name: "service".into(), value: service.into() }];
        let timestamps: Vec<i64> = self.minutes.keys().copied().collect();
        let column = |f: &dyn Fn(&Minute) -> f64| self.minutes.values().map(f).collect::<Vec<f64>>();
        [
            ("http_requests", column(&|m| m.requests as f64)),
            ("http_errors", column(&|m| m.errors as f64)),
            (
                "http_latency_mean_ms",
                column(&|m| if m.timed > 0 { round3(m.total_us as f64 / 1000.0 / m.timed as f64) } else { 0.0 }),
            ),
        ]
        .into_iter()
        .map(|(name, values)| Series {
            name: name.into(),
            labels: labels.clone(),
            timestamps_ms: timestamps.clone(),
            values,
        })
        .collect()
    }
}
