//! `run --scrape` and `run --scrape-host`: read `/metrics` expositions and
//! turn them into endpoints and host sections.
//!
//! An HTTP target is read twice, a window apart: [`begin`] takes the first
//! reading before the run's sampling window starts, [`finish`] the second
//! after it ends, so scraping adds no waiting of its own. Counters become
//! increases over the time really elapsed between the readings. A file
//! (`file://` or a path) is one reading: its totals since the process (or the
//! machine) started stand in for the window, without throughput.

use std::collections::HashMap;
use std::io::Read;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use super::endpoints::{EndpointContext, Observations, endpoints, parse_le, unit_to_ms};
use super::exposition::{self, Exposition, Format, ParseError};
use super::http::{self, HttpError, HttpUrl};
use super::node::{HostSample, host_sample};
use super::settings::PrometheusSettings;
use perfsage_model::Endpoint;

/// Where an exposition comes from.
#[derive(Debug, Clone)]
pub enum ScrapeTarget {
    Http(HttpUrl),
    File(PathBuf),
}

#[derive(Debug, thiserror::Error)]
pub enum ScrapeError {
    #[error("scrape {target}")]
    Http {
        target: String,
        #[source]
        source: HttpError,
    },
    #[error("scrape {target}: the server answered HTTP {status}")]
    Status { target: String, status: u16 },
    #[error("scrape {target}: cannot read the file")]
    File {
        target: String,
        #[source]
        source: std::io::Error,
    },
    #[error("scrape {target}: not a valid {format} exposition")]
    Parse {
        target: String,
        format: &'static str,
        #[source]
        source: ParseError,
    },
    #[error("scrape {target}: cannot start the HTTP runtime")]
    Runtime {
        target: String,
        #[source]
        source: std::io::Error,
    },
}

impl ScrapeTarget {
    /// `http://...`, `file:///path`, or a plain path.
    pub fn parse(text: &str) -> Result<ScrapeTarget, HttpError> {
        if let Some(path) = text.strip_prefix("file://") {
            return Ok(ScrapeTarget::File(PathBuf::from(path)));
        }
        if text.contains("://") {
            return HttpUrl::parse(text).map(ScrapeTarget::Http);
        }
        Ok(ScrapeTarget::File(PathBuf::from(text)))
    }

    /// As written in `meta.sources`: the URL or the path.
    pub fn label(&self) -> String {
        match self {
            ScrapeTarget::Http(url) => url.url.clone(),
            ScrapeTarget::File(path) => path.display().to_string(),
        }
    }

    /// The service name when the series carry none: host:port, or the file's name.
    fn default_service(&self) -> String {
        match self {
            ScrapeTarget::Http(url) => url.authority.clone(),
            ScrapeTarget::File(path) => path.file_stem().map_or("metrics".into(), |s| s.to_string_lossy().into_owned()),
        }
    }
}

/// One parsed exposition and when it was read.
#[derive(Debug)]
pub struct Reading {
    pub exposition: Exposition,
    pub at: Instant,
}

/// Read a target once.
pub fn read(target: &ScrapeTarget, timeout: Duration) -> Result<Reading, ScrapeError> {
    let label = target.label();
    let (body, content_type) = match target {
        ScrapeTarget::File(path) => {
            let file_error = |source| ScrapeError::File { target: label.clone(), source };
            // The same cap as over HTTP: read one byte more than it allows to know.
            let mut body = Vec::new();
            std::fs::File::open(path)
                .and_then(|f| f.take(exposition::MAX_BODY_BYTES as u64 + 1).read_to_end(&mut body))
                .map_err(file_error)?;
            if body.len() > exposition::MAX_BODY_BYTES {
                return Err(file_error(std::io::Error::other(format!(
                    "larger than the limit of {} bytes for an exposition",
                    exposition::MAX_BODY_BYTES
                ))));
            }
            (body, None)
        }
        ScrapeTarget::Http(url) => {
            let runtime = http::runtime().map_err(|source| ScrapeError::Runtime { target: label.clone(), source })?;
            // Prefer OpenMetrics, accept the text format, as Prometheus asks.
            let accept = "application/openmetrics-text;version=1.0.0;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
            let response = runtime
                .block_on(http::request(url, accept, None, timeout, exposition::MAX_BODY_BYTES))
                .map_err(|source| ScrapeError::Http { target: label.clone(), source })?;
            if response.status != 200 {
                return Err(ScrapeError::Status { target: label, status: response.status });
            }
            (response.body.to_vec(), response.content_type)
        }
    };
    let format = Format::detect(content_type.as_deref(), &body);
    let exposition = exposition::parse(&body, format).map_err(|source| ScrapeError::Parse {
        target: label,
        format: if format == Format::OpenMetrics { "OpenMetrics" } else { "Prometheus text" },
        source,
    })?;
    Ok(Reading { exposition, at: Instant::now() })
}

/// What one target gave.
#[derive(Debug)]
pub struct Scraped {
    pub label: String,
    pub endpoints: Vec<Endpoint>,
    /// Host sections, when asked for (`--scrape-host`).
    pub host: Option<HostSample>,
    pub warnings: Vec<String>,
}

/// A target with its first reading taken.
#[derive(Debug)]
pub struct Begun {
    target: ScrapeTarget,
    host: bool,
    first: Result<Reading, ScrapeError>,
}

/// Take the first reading of every target (`host`: also map node_exporter metrics).
pub fn begin(targets: &[(ScrapeTarget, bool)], settings: &PrometheusSettings) -> Vec<Begun> {
    let timeout = Duration::from_millis(settings.timeout_ms);
    targets
        .iter()
        .map(|(target, host)| Begun { target: target.clone(), host: *host, first: read(target, timeout) })
        .collect()
}

/// Take the second reading of HTTP targets and map both.
pub fn finish(begun: Vec<Begun>, settings: &PrometheusSettings) -> Vec<Result<Scraped, ScrapeError>> {
    let timeout = Duration::from_millis(settings.timeout_ms);
    begun
        .into_iter()
        .map(|b| {
            let first = b.first?;
            let (before, after) = match &b.target {
                ScrapeTarget::File(_) => (None, first),
                ScrapeTarget::Http(_) => (Some(first), read(&b.target, timeout)?),
            };
            Ok(map(&b.target, b.host, before.as_ref(), &after, settings))
        })
        .collect()
}

/// Map one target's readings (`before` = `None`: a single reading).
pub fn map(
    target: &ScrapeTarget,
    host: bool,
    before: Option<&Reading>,
    after: &Reading,
    settings: &PrometheusSettings,
) -> Scraped {
    let seconds = before.map_or(0.0, |b| after.at.duration_since(b.at).as_secs_f64());
    let observations = observations(before.map(|b| &b.exposition), &after.exposition, settings);
    let service = target.default_service();
    let context = EndpointContext {
        metrics: &settings.endpoints,
        default_service: &service,
        window_ms: before.map(|_| (seconds * 1000.0).round() as u64),
    };
    let endpoints = endpoints(&observations, &context);
    let mut warnings = Vec::new();
    let host = host.then(|| host_sample(before.map(|b| &b.exposition), &after.exposition, seconds, &settings.node));
    if let Some(host) = &host {
        warnings.extend(host.warnings.iter().map(|w| format!("scrape {}: {w}", target.label())));
    } else if before.is_none() && !endpoints.is_empty() {
        warnings.push(format!(
            "scrape {}: one reading only: endpoint counts are totals since the process started, without throughput",
            target.label()
        ));
    }
    Scraped { label: target.label(), endpoints, host, warnings }
}

type SeriesKey = (String, Vec<(String, String)>);

fn series_key(name: &str, labels: &[(String, String)]) -> SeriesKey {
    let mut labels = labels.to_vec();
    labels.sort();
    (name.to_string(), labels)
}

/// The increases of the configured histograms and counters between two
/// expositions (or the totals of one).
pub fn observations(before: Option<&Exposition>, after: &Exposition, settings: &PrometheusSettings) -> Observations {
    let baseline: HashMap<SeriesKey, f64> = before
        .map(|e| {
            e.families.iter().flat_map(|f| &f.samples).map(|s| (series_key(&s.name, &s.labels), s.value)).collect()
        })
        .unwrap_or_default();
    let increase = |name: &str, labels: &[(String, String)], value: f64| -> f64 {
        if !value.is_finite() {
            return 0.0;
        }
        let previous = baseline.get(&series_key(name, labels)).copied().unwrap_or(0.0);
        // A counter reset: the process restarted and counted from zero.
        if value >= previous { value - previous } else { value }
    };
    let mut observations = Observations::default();
    let metrics = &settings.endpoints;
    for family in &metrics.histograms {
        let to_ms = unit_to_ms(family);
        for s in after.samples(&format!("{family}_bucket")) {
            let Some(le) = s.label("le").and_then(parse_le) else { continue };
            let labels: Vec<(String, String)> = s.labels.iter().filter(|(n, _)| n != "le").cloned().collect();
            let le_ms = if le.is_finite() { le * to_ms } else { le };
            observations.buckets.push((labels, le_ms, increase(&s.name, &s.labels, s.value)));
        }
        for s in after.samples(&format!("{family}_count")) {
            observations.histogram_counts.push((s.labels.clone(), increase(&s.name, &s.labels, s.value)));
        }
        for s in after.samples(&format!("{family}_sum")) {
            observations.sums_ms.push((s.labels.clone(), increase(&s.name, &s.labels, s.value) * to_ms));
        }
    }
    for counter in &metrics.counters {
        for s in after.samples(counter) {
            observations.counter_counts.push((s.labels.clone(), increase(&s.name, &s.labels, s.value)));
        }
    }
    observations
}
