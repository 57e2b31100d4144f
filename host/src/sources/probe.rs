//! The HTTP probe: a small load generator, in the spirit of wrk, that
//! measures what a service's users feel (latency percentiles, throughput,
//! errors by class) and turns it into snapshot endpoints.
//!
//! # How load is made
//!
//! A tokio multi-thread runtime runs one task per connection. Each task owns
//! one keep-alive HTTP/1.1 connection made with hyper's low-level
//! `client::conn::http1` handshake (no pool, no locks between tasks) and
//! sends its requests one after another. A connection the server closes
//! (`Connection: close`, keep-alive limit) is reopened without counting an
//! error; a connection whose request failed or timed out is dropped and
//! reopened.
//!
//! - **Closed model** (default): each connection sends its next request as
//!   soon as the previous answer is read, like wrk.
//! - **Open model** (`rate`): request *i* of the run has an intended send
//!   time `start + i / rate`, spread over the connections. Latency is
//!   measured from that intended time, not from when the request was really
//!   sent, so a stall that holds requests back shows up in the percentiles
//!   instead of being hidden (coordinated omission, as wrk2 corrects it).
//!
//! The run stops at the duration or once the request budget is spent,
//! whichever comes first. Latencies go into one HDR histogram per task
//! (microseconds, three significant digits), merged at the end.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use hdrhistogram::Histogram;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper::header::{CONNECTION, HOST, HeaderMap, HeaderName, HeaderValue};
use hyper::{Method, Request, Uri};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio::time::Instant;

use crate::model::Endpoint;
use crate::sources::histogram::{buckets, round3, summary};

/// Largest latency recorded (longer ones are clamped): one hour in µs.
const MAX_US: u64 = 3_600_000_000;
/// Pause after a failed connect in the closed model, so a dead target is not hammered in a tight loop.
const RECONNECT_PAUSE: Duration = Duration::from_millis(10);

/// What to send, how hard, and for how long.
#[derive(Debug, Clone)]
pub struct ProbeOptions {
    pub connections: usize,
    /// Stop after this long ...
    pub duration: Option<Duration>,
    /// ... or after this many requests, whichever comes first (one of them is required).
    pub requests: Option<u64>,
    /// Requests per second across all connections (open model); `None`: as fast as answers come.
    pub rate: Option<f64>,
    pub method: Method,
    pub headers: Vec<(HeaderName, HeaderValue)>,
    pub body: Bytes,
    /// Per request, connect included.
    pub timeout: Duration,
    /// Runtime worker threads.
    pub threads: usize,
}

impl ProbeOptions {
    /// GET over `connections` for `duration`, closed model, 5 s timeout, one thread per core.
    pub fn new(connections: usize, duration: Duration) -> Self {
        ProbeOptions {
            connections,
            duration: Some(duration),
            requests: None,
            rate: None,
            method: Method::GET,
            headers: Vec::new(),
            body: Bytes::new(),
            timeout: Duration::from_secs(5),
            threads: std::thread::available_parallelism().map_or(2, |n| n.get()),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    #[error("{url}: not an http:// URL with a host ({reason})")]
    BadUrl { url: String, reason: String },
    #[error("give a duration or a request count")]
    Unbounded,
    #[error("the probe needs at least one connection and a positive rate")]
    BadSettings,
    #[error("cannot start the probe's runtime")]
    Runtime(#[source] std::io::Error),
}

/// Failures by class.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct ErrorCounts {
    /// The TCP connection could not be made (refused, unreachable, connect timeout).
    pub connect: u64,
    /// No complete answer within the timeout.
    pub timeout: u64,
    /// The connection broke or the answer was not valid HTTP.
    pub io: u64,
    pub status_4xx: u64,
    pub status_5xx: u64,
}

impl ErrorCounts {
    pub fn total(&self) -> u64 {
        self.connect + self.timeout + self.io + self.status_4xx + self.status_5xx
    }

    fn add(&mut self, other: &ErrorCounts) {
        self.connect += other.connect;
        self.timeout += other.timeout;
        self.io += other.io;
        self.status_4xx += other.status_4xx;
        self.status_5xx += other.status_5xx;
    }
}

/// What probing one URL measured.
#[derive(Debug, Clone)]
pub struct ProbeResult {
    pub url: String,
    /// `host:port`.
    pub service: String,
    /// `METHOD /path`.
    pub route: String,
    /// Requests attempted and finished (answered or failed).
    pub requests: u64,
    pub errors: ErrorCounts,
    pub elapsed: Duration,
    /// Latency of answered requests (any status), µs.
    pub latency: Histogram<u64>,
    pub latency_total_us: u64,
}

impl ProbeResult {
    pub fn throughput_rps(&self) -> f64 {
        round3(self.requests as f64 / self.elapsed.as_secs_f64().max(1e-9))
    }

    /// The result as a snapshot endpoint; transport failures count as errors, like 5xx.
    pub fn endpoint(&self) -> Endpoint {
        let e = &self.errors;
        Endpoint {
            service: self.service.clone(),
            route: self.route.clone(),
            requests: self.requests,
            errors: e.status_5xx + e.connect + e.timeout + e.io,
            client_errors: e.status_4xx,
            throughput_rps: self.throughput_rps(),
            latency: summary(&self.latency, self.latency_total_us, self.latency.max()),
            upstream_latency: None,
            buckets: if self.latency.is_empty() { Vec::new() } else { buckets(&self.latency) },
            window_ms: self.elapsed.as_millis() as u64,
        }
    }
}

/// A parsed target URL.
#[derive(Debug, Clone)]
struct Target {
    url: String,
    host: String,
    port: u16,
    path: Uri,
    host_header: HeaderValue,
}

impl Target {
    fn parse(url: &str) -> Result<Self, ProbeError> {
        let bad = |reason: &str| ProbeError::BadUrl { url: url.into(), reason: reason.into() };
        let uri: Uri = url.parse().map_err(|e: hyper::http::uri::InvalidUri| bad(&e.to_string()))?;
        if uri.scheme_str() != Some("http") {
            return Err(bad("only http:// is supported"));
        }
        let authority = uri.authority().ok_or_else(|| bad("no host"))?.clone();
        let path: Uri = uri.path_and_query().map_or("/", |p| p.as_str()).parse().map_err(|_| bad("bad path"))?;
        Ok(Target {
            url: url.into(),
            host: authority.host().trim_start_matches('[').trim_end_matches(']').into(),
            port: authority.port_u16().unwrap_or(80),
            path,
            host_header: HeaderValue::from_str(authority.as_str()).map_err(|_| bad("bad host"))?,
        })
    }
}

/// Check the URLs before anything is sent.
pub fn validate(urls: &[String]) -> Result<(), ProbeError> {
    urls.iter().try_for_each(|u| Target::parse(u).map(drop))
}

/// Probe each URL in turn with the same options. `progress` is called about
/// ten times a second with the URL, the requests finished so far and the time elapsed.
pub fn probe(
    urls: &[String],
    options: &ProbeOptions,
    progress: &dyn Fn(&str, u64, Duration),
) -> Result<Vec<ProbeResult>, ProbeError> {
    if options.duration.is_none() && options.requests.is_none() {
        return Err(ProbeError::Unbounded);
    }
    if options.connections == 0 || options.rate.is_some_and(|r| r.is_nan() || r <= 0.0) {
        return Err(ProbeError::BadSettings);
    }
    let targets = urls.iter().map(|u| Target::parse(u)).collect::<Result<Vec<_>, _>>()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(options.threads.max(1))
        .enable_all()
        .build()
        .map_err(ProbeError::Runtime)?;
    Ok(targets.into_iter().map(|t| runtime.block_on(probe_one(t, options, progress))).collect())
}

/// What every connection task of one run shares.
struct Shared {
    target: Target,
    options: ProbeOptions,
    headers: HeaderMap,
    start: Instant,
    deadline: Option<Instant>,
    budget: AtomicU64,
    finished: AtomicU64,
}

impl Shared {
    /// Take one request from the budget; false once it is spent.
    fn take(&self) -> bool {
        self.budget.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |left| left.checked_sub(1)).is_ok()
    }
}

#[derive(Debug)]
struct TaskStats {
    requests: u64,
    errors: ErrorCounts,
    latency: Histogram<u64>,
    total_us: u64,
}

async fn probe_one(target: Target, options: &ProbeOptions, progress: &dyn Fn(&str, u64, Duration)) -> ProbeResult {
    let mut headers = HeaderMap::new();
    headers.insert(HOST, target.host_header.clone());
    for (name, value) in &options.headers {
        headers.append(name.clone(), value.clone());
    }
    let start = Instant::now();
    let shared = Arc::new(Shared {
        target: target.clone(),
        options: options.clone(),
        headers,
        start,
        deadline: options.duration.map(|d| start + d),
        budget: AtomicU64::new(options.requests.unwrap_or(u64::MAX)),
        finished: AtomicU64::new(0),
    });
    let mut tasks: Vec<_> =
        (0..options.connections).map(|index| tokio::spawn(connection(shared.clone(), index))).collect();
    let mut ticker = tokio::time::interval(Duration::from_millis(100));
    let mut stats = Vec::with_capacity(tasks.len());
    for task in &mut tasks {
        loop {
            tokio::select! {
                done = &mut *task => {
                    stats.push(done.expect("a probe connection task panicked"));
                    break;
                }
                _ = ticker.tick() => progress(&target.url, shared.finished.load(Ordering::Relaxed), start.elapsed()),
            }
        }
    }
    let elapsed = start.elapsed();
    let mut result = ProbeResult {
        url: target.url.clone(),
        service: target.host_header.to_str().unwrap_or_default().into(),
        route: format!("{} {}", options.method, target.path.path()),
        requests: 0,
        errors: ErrorCounts::default(),
        elapsed,
        latency: Histogram::new_with_bounds(1, MAX_US, 3).expect("static bounds"),
        latency_total_us: 0,
    };
    for s in stats {
        result.requests += s.requests;
        result.errors.add(&s.errors);
        result.latency.add(&s.latency).expect("same bounds");
        result.latency_total_us += s.total_us;
    }
    result
}

/// One connection's loop: send, time, classify, until the deadline or the budget.
async fn connection(shared: Arc<Shared>, index: usize) -> TaskStats {
    let options = &shared.options;
    let mut stats = TaskStats {
        requests: 0,
        errors: ErrorCounts::default(),
        latency: Histogram::new_with_bounds(1, MAX_US, 3).expect("static bounds"),
        total_us: 0,
    };
    // Open model: this connection's share of the schedule.
    let interval = options.rate.map(|rate| Duration::from_secs_f64(options.connections as f64 / rate));
    let offset = options.rate.map(|rate| Duration::from_secs_f64(index as f64 / rate));
    let mut sender: Option<SendRequest<Full<Bytes>>> = None;
    for i in 0u32.. {
        let intended = match (interval, offset) {
            (Some(interval), Some(offset)) => {
                let at = shared.start + offset + interval * i;
                if shared.deadline.is_some_and(|d| at >= d) {
                    break;
                }
                tokio::time::sleep_until(at).await;
                at
            }
            _ => Instant::now(),
        };
        if shared.deadline.is_some_and(|d| intended >= d) || !shared.take() {
            break;
        }
        let outcome = tokio::time::timeout(options.timeout, exchange(&shared, &mut sender)).await;
        stats.requests += 1;
        shared.finished.fetch_add(1, Ordering::Relaxed);
        match outcome {
            Err(_) => {
                stats.errors.timeout += 1;
                sender = None;
            }
            Ok(Err(Failure::Connect)) => {
                stats.errors.connect += 1;
                if interval.is_none() {
                    tokio::time::sleep(RECONNECT_PAUSE).await;
                }
            }
            Ok(Err(Failure::Io)) => {
                stats.errors.io += 1;
                sender = None;
            }
            Ok(Ok(status)) => {
                let us = intended.elapsed().as_micros() as u64;
                stats.latency.saturating_record(us);
                stats.total_us += us;
                match status {
                    400..=499 => stats.errors.status_4xx += 1,
                    500..=599 => stats.errors.status_5xx += 1,
                    _ => {}
                }
            }
        }
    }
    stats
}

enum Failure {
    Connect,
    Io,
}

/// One request and its whole answer, on the task's connection (opened or reopened as needed).
async fn exchange(shared: &Shared, sender: &mut Option<SendRequest<Full<Bytes>>>) -> Result<u16, Failure> {
    if let Some(s) = sender.as_mut() {
        // The server may have closed an idle or exhausted keep-alive connection: not an error.
        if s.ready().await.is_err() {
            *sender = None;
        }
    }
    if sender.is_none() {
        *sender = Some(connect(&shared.target).await.map_err(|_| Failure::Connect)?);
    }
    let s = sender.as_mut().expect("connected above");
    let options = &shared.options;
    let mut request = Request::new(Full::new(options.body.clone()));
    *request.method_mut() = options.method.clone();
    *request.uri_mut() = shared.target.path.clone();
    *request.headers_mut() = shared.headers.clone();
    let response = s.send_request(request).await.map_err(|_| Failure::Io)?;
    let status = response.status().as_u16();
    let close = response.headers().get(CONNECTION).is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"close"));
    let mut body = response.into_body();
    while let Some(frame) = body.frame().await {
        frame.map_err(|_| Failure::Io)?;
    }
    if close {
        *sender = None;
    }
    Ok(status)
}

async fn connect(target: &Target) -> Result<SendRequest<Full<Bytes>>, Box<dyn std::error::Error + Send + Sync>> {
    let stream = TcpStream::connect((target.host.as_str(), target.port)).await?;
    stream.set_nodelay(true)?;
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(async move {
        // Ends when the connection closes; its errors surface on the sender.
        let _ = connection.await;
    });
    Ok(sender)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_checked_before_anything_is_sent() {
        assert!(validate(&["http://127.0.0.1:8080/api/x?y=1".into()]).is_ok());
        for bad in ["https://example.com/", "127.0.0.1:80/x", "http:///x", "not a url"] {
            assert!(validate(&[bad.into()]).is_err(), "{bad}");
        }
        let t = Target::parse("http://[::1]:81/a?b").unwrap();
        assert_eq!((t.host.as_str(), t.port, t.path.to_string().as_str()), ("::1", 81, "/a?b"));
    }
}
