//! The access-log source: nginx/Apache combined logs (with `$request_time`
//! and `$upstream_response_time`), any nginx `log_format`, or JSON lines,
//! plain or gzip, turned into per-route endpoints and per-minute series.
//!
//! # Streaming in bounded memory
//!
//! A plain file is split into one byte range per core, each starting just
//! after a newline; every thread reads its range through its own fixed
//! buffer ([`BUFFER_BYTES`]), parses lines in place (`format`), names their
//! route without allocating (`routes`) and counts them into its own
//! accumulator (`aggregate`); the accumulators are merged at the end. A gzip
//! stream cannot be split, so one thread decompresses into buffers handed to
//! a parsing thread over a bounded channel. Memory depends on the buffer
//! size, the number of distinct routes and the number of minutes, never on
//! the size of the file. A line longer than [`MAX_LINE_BYTES`] is counted as
//! unparseable and skipped.
//!
//! # The route cap, the same whatever the number of threads
//!
//! Distinct routes are capped ([`AccessLogSettings::max_routes`], 10,000 by
//! default): the first routes of the file, by first appearance, are kept and
//! every other request is folded into one `(other)` route with exact counts
//! and times (`aggregate`). Each thread applies the cap to its own range;
//! merging the ranges in file order keeps the file's first routes whatever
//! the split. A later range that had to fold may have folded requests of a
//! route an earlier range kept, so such a range is read a second time with
//! exactly the kept routes admitted: every kept route's numbers are exact,
//! and a file with fewer routes than the cap is read once. Several files
//! (`perfsage logs a b`) share one cap: a later file keeps the routes the
//! earlier ones kept, and new ones while there is room.
//!
//! # Bad lines
//!
//! A line that does not parse is counted, and the first few are kept with
//! their line number and reason; the caller reports them. Blank lines are not
//! data and are skipped.

mod aggregate;
pub mod format;
pub mod routes;

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::mpsc;

use serde::Deserialize;

pub use aggregate::{Accumulator, Admission, BadLine, OTHER_ROUTE, RouteStats, SIGNIFICANT_DIGITS};
use format::{LogFormat, MinuteClock};
use routes::{RouteNormalizer, RoutePattern};

/// Each reading thread's buffer.
const BUFFER_BYTES: usize = 1 << 20;
/// A longer line is counted as unparseable rather than buffered.
pub const MAX_LINE_BYTES: usize = 64 * 1024;
/// A longer route name is cut to this and marked with `...`: a scanner's
/// 60 KB paths must not make each kept route cost 60 KB.
pub const MAX_ROUTE_BYTES: usize = 512;
/// Below this size, one thread is faster than splitting.
const MIN_BYTES_PER_THREAD: u64 = 4 << 20;

/// The rule pack's `[access_log]` settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AccessLogSettings {
    /// `combined` (with optional request and upstream times), `json`, or an nginx `log_format` string.
    pub format: String,
    /// The service name the endpoints carry.
    pub service: String,
    /// Extra route patterns, applied after the built-in id classifier.
    pub routes: Vec<RouteRule>,
    /// Distinct routes kept per log (by first appearance); the others' requests
    /// are folded into one `(other)` route.
    pub max_routes: usize,
}

/// The default [`AccessLogSettings::max_routes`].
pub const DEFAULT_MAX_ROUTES: usize = 10_000;

impl Default for AccessLogSettings {
    fn default() -> Self {
        AccessLogSettings {
            format: "combined".into(),
            service: "web".into(),
            routes: Vec::new(),
            max_routes: DEFAULT_MAX_ROUTES,
        }
    }
}

/// `{ pattern = "^/users/[^/]+", replace = "/users/:name" }`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteRule {
    pub pattern: String,
    pub replace: String,
}

#[derive(Debug, thiserror::Error)]
pub enum AccessLogError {
    #[error("access_log.format: {0}")]
    Format(#[from] format::FormatError),
    #[error("access_log.routes: pattern {pattern:?} is not a valid regex")]
    Pattern { pattern: String, source: regex::Error },
    #[error("cannot read access log {path}")]
    Read { path: PathBuf, source: io::Error },
}

/// How to read access logs.
#[derive(Debug, Clone)]
pub struct AccessLogSource {
    format: LogFormat,
    normalizer: RouteNormalizer,
    pub service: String,
    pub max_routes: usize,
}

/// What one log file gave.
#[derive(Debug, Clone)]
pub struct LogAnalysis {
    pub path: PathBuf,
    pub bytes: u64,
    pub accumulator: Accumulator,
}

impl LogAnalysis {
    /// One warning naming how many lines did not parse, with the first few, or none.
    pub fn bad_line_warning(&self) -> Option<String> {
        let acc = &self.accumulator;
        (acc.bad_lines > 0).then(|| {
            let examples: Vec<String> =
                acc.bad_examples.iter().map(|b| format!("line {} ({}): {:?}", b.line, b.reason, b.text)).collect();
            format!(
                "access log {}: {} of {} lines could not be parsed and were counted, not used; e.g. {}",
                self.path.display(),
                acc.bad_lines,
                acc.lines,
                examples.join("; ")
            )
        })
    }

    /// One warning saying how many requests were folded into `(other)`, or none.
    pub fn fold_warning(&self, max_routes: usize) -> Option<String> {
        let folded = self.accumulator.folded_requests();
        (folded > 0).then(|| {
            format!(
                "access log {}: {folded} requests of routes beyond the first {max_routes} distinct routes \
                 (by first appearance) were folded into the route {OTHER_ROUTE}, with exact counts and times; \
                 raise [access_log] max_routes to see them",
                self.path.display()
            )
        })
    }
}

impl AccessLogSource {
    pub fn new(settings: &AccessLogSettings) -> Result<Self, AccessLogError> {
        let patterns = settings
            .routes
            .iter()
            .map(|r| {
                regex::Regex::new(&r.pattern)
                    .map(|pattern| RoutePattern { pattern, replace: r.replace.clone() })
                    .map_err(|source| AccessLogError::Pattern { pattern: r.pattern.clone(), source })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(AccessLogSource {
            format: LogFormat::parse(&settings.format)?,
            normalizer: RouteNormalizer::new(patterns),
            service: settings.service.clone(),
            max_routes: settings.max_routes,
        })
    }

    /// Read and aggregate one log, keeping its first [`AccessLogSource::max_routes`] routes.
    /// `progress` is told how many (compressed) bytes were read.
    pub fn analyze(&self, path: &Path, progress: &(dyn Fn(u64) + Sync)) -> Result<LogAnalysis, AccessLogError> {
        self.analyze_admitting(path, &Admission::first(self.max_routes), progress)
    }

    /// Read and aggregate one log, keeping the routes `admission` allows.
    pub fn analyze_admitting(
        &self,
        path: &Path,
        admission: &Admission,
        progress: &(dyn Fn(u64) + Sync),
    ) -> Result<LogAnalysis, AccessLogError> {
        let read_error = |source| AccessLogError::Read { path: path.into(), source };
        let mut file = File::open(path).map_err(read_error)?;
        let bytes = file.metadata().map_err(read_error)?.len();
        let mut magic = [0u8; 2];
        let gzip = file.read(&mut magic).map_err(read_error)? == 2 && magic == [0x1f, 0x8b];
        file.rewind().map_err(read_error)?;
        let accumulator = if gzip {
            self.analyze_gzip(file, admission, progress)
        } else {
            self.analyze_plain(path, bytes, admission, progress)
        }
        .map_err(read_error)?;
        Ok(LogAnalysis { path: path.into(), bytes, accumulator })
    }

    fn analyze_plain(
        &self,
        path: &Path,
        bytes: u64,
        admission: &Admission,
        progress: &(dyn Fn(u64) + Sync),
    ) -> io::Result<Accumulator> {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as u64;
        let threads = cores.min(bytes / MIN_BYTES_PER_THREAD).max(1);
        let mut starts = vec![0u64];
        let mut file = File::open(path)?;
        for i in 1..threads {
            starts.push(next_line_start(&mut file, bytes * i / threads)?);
        }
        starts.push(bytes);
        starts.dedup();
        let ranges: Vec<(u64, u64)> = starts.windows(2).map(|w| (w[0], w[1])).collect();
        let mut chunks = self.parse_ranges(path, &ranges, admission, progress)?;
        // A later range that folded may have folded a route an earlier range
        // kept: read it again admitting exactly the routes the merge keeps.
        let refold: Vec<usize> = (1..chunks.len()).filter(|i| chunks[*i].other.is_some()).collect();
        let admission = if refold.is_empty() {
            admission.clone()
        } else {
            let kept = Admission::only(
                admission.kept_after_merge(chunks.iter().map(|c| c.routes.iter().map(|(r, s)| (r, s.first_seen)))),
            );
            let again: Vec<(u64, u64)> = refold.iter().map(|i| ranges[*i]).collect();
            for (i, chunk) in refold.iter().zip(self.parse_ranges(path, &again, &kept, &|_| {})?) {
                chunks[*i] = chunk;
            }
            kept
        };
        let mut merged = Accumulator::new(admission);
        for chunk in chunks {
            merged.merge(chunk);
        }
        Ok(merged)
    }

    /// Parse each byte range of `path` on its own thread.
    fn parse_ranges(
        &self,
        path: &Path,
        ranges: &[(u64, u64)],
        admission: &Admission,
        progress: &(dyn Fn(u64) + Sync),
    ) -> io::Result<Vec<Accumulator>> {
        let results: Vec<io::Result<Accumulator>> = std::thread::scope(|scope| {
            let handles: Vec<_> = ranges
                .iter()
                .map(|&(start, end)| {
                    scope.spawn(move || {
                        let mut file = File::open(path)?;
                        file.seek(SeekFrom::Start(start))?;
                        self.parse_stream(file.take(end - start), admission, progress)
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().expect("a parsing thread panicked")).collect()
        });
        results.into_iter().collect()
    }

    fn analyze_gzip(
        &self,
        file: File,
        admission: &Admission,
        progress: &(dyn Fn(u64) + Sync),
    ) -> io::Result<Accumulator> {
        let (sender, receiver) = mpsc::sync_channel::<io::Result<Vec<u8>>>(4);
        std::thread::scope(|scope| {
            scope.spawn(move || {
                let mut decoder = flate2::read::MultiGzDecoder::new(CountingReader { inner: file, progress });
                loop {
                    let mut buffer = vec![0u8; BUFFER_BYTES];
                    match read_full(&mut decoder, &mut buffer) {
                        Ok(0) => break,
                        Ok(n) => {
                            buffer.truncate(n);
                            if sender.send(Ok(buffer)).is_err() {
                                break;
                            }
                        }
                        Err(e) => {
                            let _ = sender.send(Err(e));
                            break;
                        }
                    }
                }
            });
            self.parse_stream(ChannelReader { receiver, current: Vec::new(), at: 0 }, admission, &|_| {})
        })
    }

    /// Parse every line of `input` into a fresh accumulator.
    fn parse_stream(
        &self,
        mut input: impl Read,
        admission: &Admission,
        progress: &(dyn Fn(u64) + Sync),
    ) -> io::Result<Accumulator> {
        let mut acc = Accumulator::new(admission.clone());
        let mut clock = MinuteClock::default();
        let mut route = Vec::with_capacity(256);
        let mut line_no = 0u64;
        for_each_line(&mut input, progress, |line| {
            line_no += 1;
            let Some(line) = line else {
                acc.bad(line_no, "the line is longer than 64 KiB", b"");
                return;
            };
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            if line.iter().all(u8::is_ascii_whitespace) {
                line_no -= 1;
                return;
            }
            match self.format.parse_line(line, &mut clock) {
                Ok(record) => {
                    route.clear();
                    self.normalizer.route_into(&record.method, &record.target, &mut route);
                    if route.len() > MAX_ROUTE_BYTES {
                        route.truncate(MAX_ROUTE_BYTES);
                        route.extend_from_slice(b"...");
                    }
                    acc.add(&route, &record);
                }
                Err(reason) => acc.bad(line_no, reason, line),
            }
        })?;
        Ok(acc)
    }
}

/// Call `on_line` with each line of `input` (without its newline), or with
/// `None` for a line longer than [`MAX_LINE_BYTES`]. Reads through one
/// fixed buffer.
fn for_each_line(
    input: &mut impl Read,
    progress: &(dyn Fn(u64) + Sync),
    mut on_line: impl FnMut(Option<&[u8]>),
) -> io::Result<()> {
    let mut buffer = vec![0u8; BUFFER_BYTES];
    let mut filled = 0;
    let mut skipping = false; // inside an overlong line
    loop {
        let n = read_full(input, &mut buffer[filled..])?;
        progress(n as u64);
        let eof = n == 0;
        filled += n;
        let mut start = 0;
        while let Some(newline) = memchr::memchr(b'\n', &buffer[start..filled]) {
            let end = start + newline;
            if skipping {
                skipping = false;
            } else if end - start > MAX_LINE_BYTES {
                on_line(None);
            } else {
                on_line(Some(&buffer[start..end]));
            }
            start = end + 1;
        }
        if eof {
            if start < filled && !skipping {
                on_line(Some(&buffer[start..filled]));
            }
            return Ok(());
        }
        let partial = filled - start;
        if partial >= MAX_LINE_BYTES || (skipping && start == 0) {
            // Drop the partial overlong line; count it once.
            if !skipping {
                on_line(None);
            }
            skipping = true;
            filled = 0;
        } else {
            buffer.copy_within(start..filled, 0);
            filled = partial;
        }
    }
}

/// Fill as much of `buffer` as the reader gives before its end.
pub(crate) fn read_full(input: &mut impl Read, buffer: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buffer.len() {
        match input.read(&mut buffer[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

/// The offset just after the first newline at or after `from` (or the end).
fn next_line_start(file: &mut File, from: u64) -> io::Result<u64> {
    if from == 0 {
        return Ok(0);
    }
    file.seek(SeekFrom::Start(from.saturating_sub(1)))?;
    let mut at = from.saturating_sub(1);
    let mut buffer = [0u8; 4096];
    loop {
        let n = file.read(&mut buffer)?;
        if n == 0 {
            return Ok(at);
        }
        if let Some(i) = memchr::memchr(b'\n', &buffer[..n]) {
            return Ok(at + i as u64 + 1);
        }
        at += n as u64;
    }
}

struct CountingReader<'a, R> {
    inner: R,
    progress: &'a (dyn Fn(u64) + Sync),
}

impl<R: Read> Read for CountingReader<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        (self.progress)(n as u64);
        Ok(n)
    }
}

/// The parsing side of the gzip pipeline.
struct ChannelReader {
    receiver: mpsc::Receiver<io::Result<Vec<u8>>>,
    current: Vec<u8>,
    at: usize,
}

impl Read for ChannelReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.at == self.current.len() {
            match self.receiver.recv() {
                Ok(chunk) => {
                    self.current = chunk?;
                    self.at = 0;
                }
                Err(_) => return Ok(0),
            }
        }
        let n = buf.len().min(self.current.len() - self.at);
        buf[..n].copy_from_slice(&self.current[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines_of(text: &[u8]) -> Vec<Option<String>> {
        let mut seen = Vec::new();
        for_each_line(&mut &text[..], &|_| {}, |l| seen.push(l.map(|l| String::from_utf8_lossy(l).into_owned())))
            .unwrap();
        seen
    }

    #[test]
    fn lines_split_across_reads_and_overlong_lines_are_flagged() {
        assert_eq!(lines_of(b"a\nb\n\nc"), [Some("a".into()), Some("b".into()), Some("".into()), Some("c".into())]);
        let mut text = vec![b'x'; BUFFER_BYTES + 10];
        text.extend_from_slice(b"\nshort\n");
        assert_eq!(lines_of(&text), [None, Some("short".into())]);
    }

    #[test]
    fn chunk_boundaries_fall_after_newlines() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log");
        std::fs::write(&path, b"aaaa\nbbbb\ncccc\n").unwrap();
        let mut file = File::open(&path).unwrap();
        assert_eq!(next_line_start(&mut file, 0).unwrap(), 0);
        assert_eq!(next_line_start(&mut file, 5).unwrap(), 5);
        assert_eq!(next_line_start(&mut file, 6).unwrap(), 10);
        assert_eq!(next_line_start(&mut file, 15).unwrap(), 15);
    }
}
