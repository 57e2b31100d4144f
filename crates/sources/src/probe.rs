//! The HTTP probe: a small load generator, in the spirit of wrk, that
//! measures what a service's users feel (latency percentiles, throughput,
//! errors by class) and turns it into snapshot endpoints.
//!
//! # How load is made
//!
//! Thread per core, like wrk: `threads` OS threads each run their own tokio
//! *current-thread* runtime and own a fixed share of the connections
//! (connection *i* lives on thread *i mod threads*). Nothing migrates between
//! threads, so a connection's socket readiness, its HTTP state machine and its
//! request loop are always woken and polled on the same thread, and the only
//! state the threads share is a few atomics (the request budget, per-thread
//! progress counters on their own cache lines). Each thread returns its own
//! statistics when it ends; they are merged once at the end.
//!
//! One connection is one task. The task owns one keep-alive HTTP/1.1
//! connection made with hyper's low-level `client::conn::http1` handshake (no
//! pool, no locks) and drives hyper's connection future *itself*, polling it
//! alongside whatever it is waiting for (see [`drive`]), instead of spawning
//! it as a second task: sending a request, writing it to the socket, reading
//! the answer and recording its latency take no cross-task wake-up. A
//! connection the server closes (`Connection: close`, keep-alive limit) is
//! reopened without counting an error; a connection whose request failed or
//! timed out is dropped and reopened.
//!
//! - **Closed model** (default): each connection sends its next request as
//!   soon as the previous answer is read, like wrk.
//! - **Open model** (`rate`): request *i* of the run has an intended send
//!   time `start + i / rate`, spread over the connections. Latency is
//!   measured from that intended time, not from when the request was really
//!   sent, so a stall that holds requests back shows up in the percentiles
//!   instead of being hidden (coordinated omission, as wrk2 corrects it).
//!
//! The per-request timeout (connect included) costs no timer registration per
//! request: each connection keeps one watchdog timer, and only when it fires
//! is it compared with the current request's deadline (request start +
//! timeout) and, if that is later, pushed to it. A request still times out at
//! exactly its own deadline; the timer is re-armed about once per timeout
//! period instead of once per request.
//!
//! The run stops at the duration or once the request budget is spent,
//! whichever comes first. Latencies go into one HDR histogram per connection
//! (microseconds, three significant digits), merged at the end.

use std::future::Future;
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::Poll;
use std::time::Duration;

use bytes::Bytes;
use hdrhistogram::Histogram;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::{self, SendRequest};
use hyper::header::{CONNECTION, HOST, HeaderName, HeaderValue};
use hyper::{Method, Request, Uri};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio::time::Instant;

use crate::histogram::{buckets, round3, summary};
use perfsage_model::Endpoint;

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
    /// OS threads, each with its own single-threaded runtime and share of the connections.
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
    targets.into_iter().map(|t| probe_one(t, options, progress)).collect()
}

/// A counter on its own cache line, so threads that bump their own do not contend.
#[derive(Default)]
#[repr(align(64))]
struct PaddedCounter(AtomicU64);

/// What every thread and connection of one run shares; read-only but for the atomics.
struct Shared {
    target: Target,
    options: ProbeOptions,
    start: Instant,
    deadline: Option<Instant>,
    /// Requests left to send; `None`: no budget (duration only), nothing to count.
    budget: Option<AtomicU64>,
    /// Requests finished, per thread (for progress only).
    finished: Vec<PaddedCounter>,
}

impl Shared {
    /// Take one request from the budget; false once it is spent.
    fn take(&self) -> bool {
        self.budget
            .as_ref()
            .is_none_or(|b| b.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |left| left.checked_sub(1)).is_ok())
    }

    fn finished(&self) -> u64 {
        self.finished.iter().map(|c| c.0.load(Ordering::Relaxed)).sum()
    }

    /// A request with the run's method, path, headers and body. Built per
    /// request (hyper takes requests by value); the header map is built
    /// directly, at its final size, rather than cloned from a template.
    fn request(&self) -> Request<Full<Bytes>> {
        let options = &self.options;
        let mut request = Request::new(Full::new(options.body.clone()));
        *request.method_mut() = options.method.clone();
        *request.uri_mut() = self.target.path.clone();
        let headers = request.headers_mut();
        headers.reserve(1 + options.headers.len());
        headers.insert(HOST, self.target.host_header.clone());
        for (name, value) in &options.headers {
            headers.append(name.clone(), value.clone());
        }
        request
    }
}

#[derive(Debug)]
struct Stats {
    requests: u64,
    errors: ErrorCounts,
    latency: Histogram<u64>,
    total_us: u64,
}

impl Stats {
    fn new() -> Stats {
        Stats {
            requests: 0,
            errors: ErrorCounts::default(),
            latency: Histogram::new_with_bounds(1, MAX_US, 3).expect("static bounds"),
            total_us: 0,
        }
    }

    fn add(&mut self, other: &Stats) {
        self.requests += other.requests;
        self.errors.add(&other.errors);
        self.latency.add(&other.latency).expect("same bounds");
        self.total_us += other.total_us;
    }
}

/// One URL: start the threads, report progress until they all end, merge what they measured.
fn probe_one(
    target: Target,
    options: &ProbeOptions,
    progress: &dyn Fn(&str, u64, Duration),
) -> Result<ProbeResult, ProbeError> {
    let threads = options.threads.clamp(1, options.connections);
    let start = Instant::now();
    let shared = Arc::new(Shared {
        target: target.clone(),
        options: options.clone(),
        start,
        deadline: options.duration.map(|d| start + d),
        budget: options.requests.map(AtomicU64::new),
        finished: (0..threads).map(|_| PaddedCounter::default()).collect(),
    });
    let mut total = Stats::new();
    let (done_tx, done) = std::sync::mpsc::channel();
    std::thread::scope(|scope| {
        for thread in 0..threads {
            let (shared, done_tx) = (shared.clone(), done_tx.clone());
            let runtime =
                tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(ProbeError::Runtime)?;
            std::thread::Builder::new()
                .name(format!("probe-{thread}"))
                .spawn_scoped(scope, move || {
                    let stats = runtime.block_on(run_thread(shared, thread, threads));
                    let _ = done_tx.send(stats);
                })
                .map_err(ProbeError::Runtime)?;
        }
        drop(done_tx);
        let tick = Duration::from_millis(100);
        let mut next = std::time::Instant::now() + tick;
        loop {
            match done.recv_timeout(next.saturating_duration_since(std::time::Instant::now())) {
                Ok(stats) => total.add(&stats),
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                    progress(&target.url, shared.finished(), start.elapsed());
                    next = std::time::Instant::now() + tick;
                }
                // Every thread has reported (a thread that panicked re-panics when the scope ends).
                Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => break,
            }
        }
        Ok::<_, ProbeError>(())
    })?;
    Ok(ProbeResult {
        url: target.url.clone(),
        service: target.host_header.to_str().unwrap_or_default().into(),
        route: format!("{} {}", options.method, target.path.path()),
        requests: total.requests,
        errors: total.errors,
        elapsed: start.elapsed(),
        latency: total.latency,
        latency_total_us: total.total_us,
    })
}

/// One thread's share of the connections (`thread`, `thread + threads`, ...), to the end of the run.
async fn run_thread(shared: Arc<Shared>, thread: usize, threads: usize) -> Stats {
    let tasks: Vec<_> = (thread..shared.options.connections)
        .step_by(threads)
        .map(|index| tokio::spawn(connection(shared.clone(), thread, index)))
        .collect();
    let mut stats = Stats::new();
    for task in tasks {
        stats.add(&task.await.expect("a probe connection task panicked"));
    }
    stats
}

/// hyper's half of one HTTP/1.1 connection: reads and writes the socket.
type Driver = Pin<Box<http1::Connection<TokioIo<TcpStream>, Full<Bytes>>>>;

/// One open connection: where requests go in, and the future that moves them over the socket.
struct Conn {
    sender: SendRequest<Full<Bytes>>,
    /// `None` once hyper has finished with the connection (closed by the server or broken).
    driver: Option<Driver>,
}

/// Run `future` while driving the connection, in this task. hyper's
/// connection future does the socket I/O for `future` (a request, its
/// answer, its body); polling both here, the future, then the driver, then
/// the future again, lets a request be written, and an answer be seen, in
/// the same wake-up. A driver that ends (the server closed, an I/O error)
/// is dropped, which fails any request still waiting on it.
async fn drive<F: Future>(driver: &mut Option<Driver>, future: F) -> F::Output {
    let mut future = pin!(future);
    std::future::poll_fn(|cx| {
        if let Poll::Ready(output) = future.as_mut().poll(cx) {
            return Poll::Ready(output);
        }
        match driver.as_mut().map(|d| d.as_mut().poll(cx)) {
            Some(Poll::Ready(_)) => *driver = None,
            Some(Poll::Pending) | None => {}
        }
        future.as_mut().poll(cx)
    })
    .await
}

/// One connection's loop: send, time, classify, until the deadline or the budget.
async fn connection(shared: Arc<Shared>, thread: usize, index: usize) -> Stats {
    let options = &shared.options;
    let mut stats = Stats::new();
    // Open model: this connection's share of the schedule.
    let schedule = options.rate.map(|rate| {
        (Duration::from_secs_f64(index as f64 / rate), Duration::from_secs_f64(options.connections as f64 / rate))
    });
    let mut conn: Option<Conn> = None;
    let mut pace = pin!(tokio::time::sleep_until(shared.start));
    let mut watchdog = pin!(tokio::time::sleep_until(shared.start + options.timeout));
    for i in 0u32.. {
        let intended = match schedule {
            Some((offset, interval)) => {
                let at = shared.start + offset + interval * i;
                if shared.deadline.is_some_and(|d| at >= d) {
                    break;
                }
                pace.as_mut().reset(at);
                pace.as_mut().await;
                at
            }
            None => Instant::now(),
        };
        if shared.deadline.is_some_and(|d| intended >= d) || !shared.take() {
            break;
        }
        // The request's own deadline counts from when it is really sent.
        let deadline = Instant::now() + options.timeout;
        let outcome = {
            let mut exchange = pin!(exchange(&shared, &mut conn));
            loop {
                tokio::select! {
                    biased;
                    outcome = &mut exchange => break Some(outcome),
                    () = watchdog.as_mut() => {
                        if watchdog.deadline() >= deadline {
                            break None;
                        }
                        // It was set for an earlier request: re-arm it for this one.
                        watchdog.as_mut().reset(deadline);
                    }
                }
            }
        };
        stats.requests += 1;
        shared.finished[thread].0.fetch_add(1, Ordering::Relaxed);
        match outcome {
            None => {
                stats.errors.timeout += 1;
                conn = None;
            }
            Some(Err(Failure::Connect)) => {
                stats.errors.connect += 1;
                if schedule.is_none() {
                    tokio::time::sleep(RECONNECT_PAUSE).await;
                }
            }
            Some(Err(Failure::Io)) => {
                stats.errors.io += 1;
                conn = None;
            }
            Some(Ok(status)) => {
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
async fn exchange(shared: &Shared, slot: &mut Option<Conn>) -> Result<u16, Failure> {
    if let Some(Conn { sender, driver }) = slot.as_mut() {
        // The server may have closed an idle or exhausted keep-alive connection: not an error.
        if drive(driver, sender.ready()).await.is_err() {
            *slot = None;
        }
    }
    if slot.is_none() {
        *slot = Some(connect(&shared.target).await.map_err(|_| Failure::Connect)?);
    }
    let Conn { sender, driver } = slot.as_mut().expect("connected above");
    let (status, close) = drive(driver, async {
        let response = sender.send_request(shared.request()).await.map_err(|_| Failure::Io)?;
        let status = response.status().as_u16();
        let close = response.headers().get(CONNECTION).is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"close"));
        let mut body = response.into_body();
        while let Some(frame) = body.frame().await {
            frame.map_err(|_| Failure::Io)?;
        }
        Ok::<_, Failure>((status, close))
    })
    .await?;
    if close {
        *slot = None;
    }
    Ok(status)
}

async fn connect(target: &Target) -> Result<Conn, Box<dyn std::error::Error + Send + Sync>> {
    let stream = TcpStream::connect((target.host.as_str(), target.port)).await?;
    stream.set_nodelay(true)?;
    let (sender, driver) = http1::handshake(TokioIo::new(stream)).await?;
    Ok(Conn { sender, driver: Some(Box::pin(driver)) })
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
