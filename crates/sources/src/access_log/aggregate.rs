//! Per-route and per-minute accumulation, one accumulator per parsing thread,
//! merged at the end.
//!
//! Each route keeps exact counts, the exact sum and maximum of its request
//! times, and latency histograms (microseconds, two significant digits: every
//! percentile within 1%) of request and upstream times. A histogram keeps its
//! first few values raw and becomes an HDR histogram (53 KB) only past them
//! ([`LazyHistogram`]), so a route seen once costs a few hundred bytes. The
//! minute series keeps three numbers per minute. A route is looked up by its
//! bytes, so a line allocates nothing unless it brings a new route.
//!
//! # The route cap
//!
//! A scanner's 404s name a new path per line. Each accumulator keeps at most
//! [`Admission::new_slots`] routes besides the ones [`Admission::reserved`]
//! names; the requests of every other route are folded into one `(other)`
//! route, whose counts, errors and times stay exact. Routes are kept by
//! first appearance: a new route is admitted while there is room, and
//! [`Accumulator::merge`] admits a later chunk's new routes in the order that
//! chunk first saw them. Merging the chunks of a file in file order
//! therefore keeps exactly the file's first routes, whatever the number of
//! chunks (the source re-reads, with that set reserved, a later chunk that
//! had to fold, so a kept route's numbers are exact too: see `mod.rs`).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use crate::histogram::{HistogramSpec, LazyHistogram, buckets, round3, summary};
use perfsage_model::contract;
use perfsage_model::{Endpoint, Label, Latency, Series};

use super::format::Record;

/// Largest time a histogram records (longer ones are clamped to it): one hour in µs.
const MAX_US: u64 = 3_600_000_000;
/// Significant digits kept by every histogram: percentiles are within 1%.
pub const SIGNIFICANT_DIGITS: u8 = 2;
/// How many unparseable lines are kept as examples.
pub const BAD_EXAMPLES: usize = 3;
/// How much of an unparseable line an example keeps.
const EXAMPLE_BYTES: usize = 200;
/// The name of the route the requests of routes over the cap are folded into.
/// No real route can be called that: a route is `METHOD path`, with a space.
pub const OTHER_ROUTE: &str = "(other)";

/// Every route histogram: 1 µs to an hour, two digits, 32 raw values (256 bytes) first.
pub const SPEC: HistogramSpec = HistogramSpec { high: MAX_US, significant_digits: SIGNIFICANT_DIGITS, raw_samples: 32 };

/// Which routes an accumulator may keep.
#[derive(Debug, Clone, Default)]
pub struct Admission {
    /// Always kept (a file's kept routes when a chunk is re-read; the routes
    /// earlier files kept when several files are merged).
    pub reserved: Arc<HashSet<Box<[u8]>>>,
    /// How many routes besides the reserved ones may be kept.
    pub new_slots: usize,
}

impl Admission {
    /// Keep the first `max_routes` routes.
    pub fn first(max_routes: usize) -> Admission {
        Admission { reserved: Arc::default(), new_slots: max_routes }
    }

    /// Keep exactly `routes`.
    pub fn only(routes: HashSet<Box<[u8]>>) -> Admission {
        Admission { reserved: Arc::new(routes), new_slots: 0 }
    }

    /// Whether a name not kept yet may be: reserved, or a free slot, which it
    /// takes (`taken` counts the slots used so far).
    pub fn admit(&self, name: &[u8], taken: &mut usize) -> bool {
        if self.reserved.contains(name) {
            true
        } else if *taken < self.new_slots {
            *taken += 1;
            true
        } else {
            false
        }
    }

    /// The names kept once `chunks` (the names each stretch of input saw, with
    /// where each was first seen; stretches in input order, all read with this
    /// admission) are merged in order: new names of a later stretch are
    /// admitted in order of first appearance (ties by name). Access-log routes
    /// and slow-log classes both merge by this one rule, so the kept set does
    /// not depend on how the input was split.
    pub fn kept_after_merge<'a, C>(&self, chunks: impl IntoIterator<Item = C>) -> HashSet<Box<[u8]>>
    where
        C: IntoIterator<Item = (&'a Box<[u8]>, u64)>,
    {
        let mut taken = 0;
        let mut kept: HashSet<Box<[u8]>> = HashSet::new();
        for chunk in chunks {
            let mut fresh: Vec<(&Box<[u8]>, u64)> =
                chunk.into_iter().filter(|(name, _)| !kept.contains(*name)).collect();
            fresh.sort_unstable_by(|a, b| a.1.cmp(&b.1).then_with(|| a.0.cmp(b.0)));
            for (name, _) in fresh {
                if self.admit(name, &mut taken) {
                    kept.insert(name.clone());
                }
            }
        }
        kept
    }
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
    pub latency: LazyHistogram,
    pub upstream: LazyHistogram,
    pub upstream_total_us: u64,
    pub upstream_max_us: u64,
    /// The accumulator's line count when the route first appeared: merges admit new routes in this order.
    pub first_seen: u64,
}

impl RouteStats {
    fn new(first_seen: u64) -> Self {
        RouteStats {
            requests: 0,
            server_errors: 0,
            client_errors: 0,
            timed: 0,
            total_us: 0,
            max_us: 0,
            latency: LazyHistogram::default(),
            upstream: LazyHistogram::default(),
            upstream_total_us: 0,
            upstream_max_us: 0,
            first_seen,
        }
    }

    /// Count one request. Sums saturate: a hostile log's times cannot wrap them.
    fn record(&mut self, record: &Record<'_>) {
        self.requests += 1;
        if record.status >= 500 {
            self.server_errors += 1;
        } else if record.status >= 400 {
            self.client_errors += 1;
        }
        if let Some(us) = record.request_us {
            self.timed += 1;
            self.total_us = self.total_us.saturating_add(us);
            self.max_us = self.max_us.max(us);
            self.latency.record(&SPEC, us);
        }
        if let Some(us) = record.upstream_us {
            self.upstream_total_us = self.upstream_total_us.saturating_add(us);
            self.upstream_max_us = self.upstream_max_us.max(us);
            self.upstream.record(&SPEC, us);
        }
    }

    fn merge(&mut self, other: &RouteStats) {
        self.requests = self.requests.saturating_add(other.requests);
        self.server_errors = self.server_errors.saturating_add(other.server_errors);
        self.client_errors = self.client_errors.saturating_add(other.client_errors);
        self.timed = self.timed.saturating_add(other.timed);
        self.total_us = self.total_us.saturating_add(other.total_us);
        self.max_us = self.max_us.max(other.max_us);
        self.latency.add(&SPEC, &other.latency);
        self.upstream.add(&SPEC, &other.upstream);
        self.upstream_total_us = self.upstream_total_us.saturating_add(other.upstream_total_us);
        self.upstream_max_us = self.upstream_max_us.max(other.upstream_max_us);
    }

    /// The latency summary: percentiles from the histogram, mean and max exact.
    pub fn latency_summary(&self) -> Latency {
        summary(&self.latency.histogram(&SPEC), self.total_us, self.max_us)
    }

    fn upstream_summary(&self) -> Option<Latency> {
        (!self.upstream.is_empty())
            .then(|| summary(&self.upstream.histogram(&SPEC), self.upstream_total_us, self.upstream_max_us))
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
    /// The kept routes.
    pub routes: HashMap<Box<[u8]>, RouteStats>,
    /// The requests of every route that was not kept, if any.
    pub other: Option<RouteStats>,
    admission: Admission,
    /// Routes kept besides the reserved ones.
    new_kept: usize,
    minutes: BTreeMap<i64, Minute>,
    current: Option<(i64, Minute)>,
    pub lines: u64,
    pub bad_lines: u64,
    pub bad_examples: Vec<BadLine>,
    pub first_ms: Option<i64>,
    pub last_ms: Option<i64>,
}

impl Accumulator {
    /// An empty accumulator that keeps the routes `admission` allows.
    pub fn new(admission: Admission) -> Accumulator {
        Accumulator { admission, ..Accumulator::default() }
    }

    /// Whether a route not kept yet may be: reserved, or a free slot (which it takes).
    fn admit(&mut self, route: &[u8]) -> bool {
        self.admission.admit(route, &mut self.new_kept)
    }

    /// How many requests were folded into `(other)`.
    pub fn folded_requests(&self) -> u64 {
        self.other.as_ref().map_or(0, |o| o.requests)
    }

    /// Count one parsed line under `route`.
    pub fn add(&mut self, route: &[u8], record: &Record<'_>) {
        let first_seen = self.lines;
        self.lines += 1;
        if let Some(stats) = self.routes.get_mut(route) {
            stats.record(record);
        } else if self.admit(route) {
            self.routes.entry(route.into()).or_insert_with(|| RouteStats::new(first_seen)).record(record);
        } else {
            self.other.get_or_insert_with(|| RouteStats::new(first_seen)).record(record);
        }
        let server_error = record.status >= 500;
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
            m.total_us = m.total_us.saturating_add(us);
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
        // New routes are admitted in the order the later chunk first saw
        // them, so that merging chunks in input order keeps the input's first routes.
        let mut routes: Vec<(Box<[u8]>, RouteStats)> = later.routes.into_iter().collect();
        routes.sort_unstable_by(|a, b| a.1.first_seen.cmp(&b.1.first_seen).then_with(|| a.0.cmp(&b.0)));
        for (route, mut stats) in routes {
            if let Some(mine) = self.routes.get_mut(&route) {
                mine.merge(&stats);
            } else if self.admit(&route) {
                stats.first_seen = stats.first_seen.saturating_add(offset);
                self.routes.insert(route, stats);
            } else {
                self.fold(&stats);
            }
        }
        if let Some(other) = later.other {
            self.fold(&other);
        }
        for (minute, m) in later.minutes {
            let mine = self.minutes.entry(minute).or_default();
            mine.requests = mine.requests.saturating_add(m.requests);
            mine.errors = mine.errors.saturating_add(m.errors);
            mine.timed = mine.timed.saturating_add(m.timed);
            mine.total_us = mine.total_us.saturating_add(m.total_us);
        }
        self.first_ms = [self.first_ms, later.first_ms].into_iter().flatten().min();
        self.last_ms = [self.last_ms, later.last_ms].into_iter().flatten().max();
    }

    fn fold(&mut self, stats: &RouteStats) {
        match &mut self.other {
            Some(other) => other.merge(stats),
            None => self.other = Some(stats.clone()),
        }
    }

    /// The window the log covers: first to last request, at least one second.
    pub fn window_ms(&self) -> u64 {
        match (self.first_ms, self.last_ms) {
            // Hostile times may lie anywhere in i64: the difference cannot overflow a u64.
            (Some(first), Some(last)) => last.abs_diff(first).max(1000),
            _ => 0,
        }
    }

    /// The kept routes and, last, `(other)` when anything was folded.
    pub fn routes_with_other(&self) -> impl Iterator<Item = (&[u8], &RouteStats)> {
        self.routes.iter().map(|(r, s)| (r.as_ref(), s)).chain(self.other.iter().map(|s| (OTHER_ROUTE.as_bytes(), s)))
    }

    /// The routes as snapshot endpoints, busiest first (ties by route).
    pub fn endpoints(&self, service: &str) -> Vec<Endpoint> {
        let window_ms = self.window_ms();
        let mut endpoints: Vec<Endpoint> = self
            .routes_with_other()
            .map(|(route, s)| Endpoint {
                service: service.into(),
                route: String::from_utf8_lossy(route).into_owned(),
                requests: s.requests,
                errors: s.server_errors,
                client_errors: s.client_errors,
                throughput_rps: if window_ms > 0 { round3(s.requests as f64 * 1000.0 / window_ms as f64) } else { 0.0 },
                latency: s.latency_summary(),
                upstream_latency: s.upstream_summary(),
                buckets: if s.timed > 0 { buckets(&s.latency.histogram(&SPEC)) } else { Vec::new() },
                window_ms,
            })
            .collect();
        endpoints.sort_by(|a, b| b.requests.cmp(&a.requests).then_with(|| a.route.cmp(&b.route)));
        endpoints
    }

    /// The per-minute series: `http_requests`, `http_errors` (5xx) and `http_latency_mean_ms`.
    pub fn series(&mut self, service: &str) -> Vec<Series> {
        self.flush_minute();
        let labels = vec![Label { name: contract::labels::SERVICE.into(), value: service.into() }];
        let timestamps: Vec<i64> = self.minutes.keys().copied().collect();
        let column = |f: &dyn Fn(&Minute) -> f64| self.minutes.values().map(f).collect::<Vec<f64>>();
        [
            (contract::series::HTTP_REQUESTS, column(&|m| m.requests as f64)),
            (contract::series::HTTP_ERRORS, column(&|m| m.errors as f64)),
            (
                contract::series::HTTP_LATENCY_MEAN_MS,
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
