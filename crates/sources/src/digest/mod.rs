//! `perfsage digest`: slow query logs, grouped by statement class.
//!
//! Two log kinds, told apart by their first entries ([`LogKind::detect`]):
//! MySQL/MariaDB slow logs ([`slowlog`]) and PostgreSQL server logs written
//! with `log_min_duration_statement` ([`pglog`]). Each entry's statement is
//! fingerprinted ([`fingerprint`]) and folded into its class: count, total
//! time, a latency histogram for the p95 (bounded memory per class, whatever
//! the log's length), rows examined and sent. Entries that do not parse are
//! counted, not fatal.
//!
//! # Streaming in bounded memory, on every core
//!
//! A file is split into one byte range per core, each starting where an entry
//! starts ([`entry_start`]); every thread streams its range through its own
//! buffered reader into its own classes, and the classes are merged at the
//! end (histograms add). Memory depends on the number of classes, never on
//! the size of the log.
//!
//! # Hostile logs: long statements and many classes
//!
//! A log is whatever reached the server, so both of the things memory
//! follows are capped ([`SlowLogSettings`], the rule pack's `[slow_log]`):
//!
//! - a line or a statement longer than `max_statement_bytes` (1 MiB) is cut
//!   there, at a UTF-8 character boundary, while it is read; the rest of it
//!   is skipped unbuffered, the class is the fingerprint of the kept text,
//!   and the entry is counted as truncated ([`Digest::truncated`]);
//! - at most `max_classes` (10,000) classes are kept, the first ones by first
//!   appearance; the entries of every other class are folded into one
//!   `(other)` class ([`QueryClass::folded`]) with exact counts, times and
//!   rows. As for access logs (`sources::access_log`), every thread keeps its
//!   range's first classes, the ranges are merged in file order (which keeps
//!   the file's first classes whatever the split), and a later range that
//!   had to fold is read again with exactly the kept classes admitted, so
//!   every kept class is exact too.
//!
//! A class's latency histogram stays a short list of raw times until it has
//! more than a few dozen entries ([`LazyHistogram`]): a full one is 94 KB.

pub mod fingerprint;
mod lines;
pub mod pglog;
pub mod slowlog;

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom};
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::access_log::Admission;
use crate::histogram::{HistogramSpec, LazyHistogram};
use perfsage_model::contract;

/// The rule pack's `[slow_log]` settings.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SlowLogSettings {
    /// Statement classes kept (the first ones seen); the others' entries are folded into `(other)`.
    pub max_classes: usize,
    /// A longer statement (or line) is cut to this many bytes and counted as truncated.
    pub max_statement_bytes: usize,
}

impl Default for SlowLogSettings {
    fn default() -> Self {
        SlowLogSettings { max_classes: 10_000, max_statement_bytes: 1 << 20 }
    }
}

/// The fingerprint and id of the class the entries of classes over the cap
/// are folded into. A real class may normalize to the same text, so the
/// class is told apart by [`QueryClass::folded`]; its id (not 16 hex digits)
/// is no real class's.
pub const OTHER_CLASS: &str = "(other)";

/// One statement class of a slow log.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct QueryClass {
    /// The normalized statement (literals as `?`, lists as `(?+)`).
    pub fingerprint: String,
    /// A short hash of the fingerprint.
    pub id: String,
    pub count: u64,
    pub total_ms: f64,
    pub mean_ms: f64,
    pub p95_ms: f64,
    pub rows_examined: u64,
    pub rows_sent: u64,
    /// The schema its entries ran in, where the log says (the last one seen).
    pub database: Option<String>,
    /// The `(other)` class: the entries of the classes over `max_classes`.
    pub folded: bool,
}

/// The classes, most total time first, and how many entries were corrupt.
#[derive(Debug, Clone)]
pub struct Digest {
    pub kind: LogKind,
    pub classes: Vec<QueryClass>,
    pub entries: u64,
    pub corrupt: u64,
    /// Entries whose statement (or a line of it) was cut at `max_statement_bytes`.
    pub truncated: u64,
    /// Entries folded into the `(other)` class.
    pub folded: u64,
    pub settings: SlowLogSettings,
}

impl Digest {
    /// What to tell the operator about entries that did not parse, if any.
    pub fn corrupt_warning(&self, path: &Path) -> Option<String> {
        let why = match self.kind {
            LogKind::MySql => "no readable Query_time or no statement",
            LogKind::Postgres => "no readable duration or no statement",
        };
        (self.corrupt > 0).then(|| {
            format!(
                "{}: {} of {} entries are corrupt ({why}) and were skipped",
                path.display(),
                self.corrupt,
                self.corrupt + self.entries
            )
        })
    }

    /// What to tell the operator about truncated statements and folded classes.
    pub fn limit_warnings(&self, path: &Path) -> Vec<String> {
        let mut warnings = Vec::new();
        if self.truncated > 0 {
            warnings.push(format!(
                "{}: {} entries had a statement or line longer than {} bytes; each was cut there and \
                 classed by the fingerprint of what was kept ([slow_log] max_statement_bytes)",
                path.display(),
                self.truncated,
                self.settings.max_statement_bytes
            ));
        }
        if self.folded > 0 {
            warnings.push(format!(
                "{}: {} entries of statement classes beyond the first {} (by first appearance) were folded \
                 into the class {OTHER_CLASS}, with exact counts and times; raise [slow_log] max_classes to see them",
                path.display(),
                self.folded,
                self.settings.max_classes
            ));
        }
        warnings
    }

    /// The classes as the snapshot's `queries`: calls, times and (MySQL) rows.
    pub fn queries(&self) -> Vec<perfsage_model::Query> {
        let rows = |n: u64| (self.kind == LogKind::MySql).then_some(n);
        self.classes
            .iter()
            .map(|c| perfsage_model::Query {
                database: c.database.clone().unwrap_or_default(),
                engine: self.kind.engine().to_owned(),
                fingerprint: c.id.clone(),
                text: c.fingerprint.clone(),
                calls: c.count,
                total_ms: c.total_ms,
                mean_ms: c.mean_ms,
                p95_ms: Some(c.p95_ms),
                rows_examined: rows(c.rows_examined),
                rows_returned: rows(c.rows_sent),
                plan_hints: Vec::new(),
            })
            .collect()
    }
}

/// Which server wrote a log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogKind {
    /// MySQL or MariaDB `slow_query_log_file`.
    MySql,
    /// PostgreSQL with `log_min_duration_statement`.
    Postgres,
}

impl LogKind {
    /// From the log's first bytes: MySQL headers (`# Query_time:`, `# User@Host:`)
    /// or PostgreSQL's `duration: ... ms`; MySQL when neither shows.
    pub fn detect(head: &[u8]) -> LogKind {
        let head = String::from_utf8_lossy(head);
        let mysql = head.find("# Query_time:").or_else(|| head.find("# User@Host:"));
        let postgres = head.find(" ms  statement: ").or_else(|| head.find(" ms  execute "));
        match (mysql, postgres) {
            (Some(m), Some(p)) if p < m => LogKind::Postgres,
            (None, Some(_)) => LogKind::Postgres,
            _ => LogKind::MySql,
        }
    }

    /// The engine the snapshot's queries of such a log carry.
    pub fn engine(self) -> &'static str {
        match self {
            LogKind::MySql => contract::engines::MYSQL,
            LogKind::Postgres => contract::engines::POSTGRESQL,
        }
    }

    /// Read every entry of a log of this kind, lending each to `each`
    /// (`None` for a corrupt one); statements and lines are cut at `max_bytes`.
    fn read(
        self,
        reader: impl BufRead,
        max_bytes: usize,
        each: impl FnMut(Option<slowlog::Entry<'_>>),
    ) -> io::Result<()> {
        match self {
            LogKind::MySql => slowlog::read(reader, max_bytes, each),
            LogKind::Postgres => pglog::read(reader, max_bytes, each),
        }
    }
}

/// Every class histogram: 1 µs to an hour (longer ones count as an hour), 3
/// significant digits, 64 raw times (512 bytes) before the 94 KB histogram.
const SPEC: HistogramSpec = HistogramSpec { high: 3_600_000_000, significant_digits: 3, raw_samples: 64 };

struct Accumulator {
    count: u64,
    /// Whole microseconds (what both logs resolve), so a sum does not depend
    /// on the order, nor on how the log was split between threads.
    total_us: u64,
    /// Query times in microseconds ([`SPEC`]). u32 counts (4 billion
    /// entries of one class in one bucket) halve the footprint, so more
    /// classes' histograms stay in cache: recording is a hot step.
    times_us: LazyHistogram<u32>,
    rows_examined: u64,
    rows_sent: u64,
    database: Option<String>,
    /// The entry count of its stretch of log when the class first appeared.
    first_seen: u64,
}

impl Accumulator {
    fn new(first_seen: u64) -> Self {
        Accumulator {
            count: 0,
            total_us: 0,
            times_us: LazyHistogram::default(),
            rows_examined: 0,
            rows_sent: 0,
            database: None,
            first_seen,
        }
    }

    /// Sums saturate: a log's `Query_time: 1e300` or `Rows_examined:
    /// 18446744073709551615` must not wrap them (nor panic a debug build).
    fn add(&mut self, entry: &slowlog::Entry<'_>) {
        // A float-to-integer `as` saturates (and the readers let no NaN or negative time through).
        let us = (entry.query_time_s * 1e6).round() as u64;
        self.count = self.count.saturating_add(1);
        self.total_us = self.total_us.saturating_add(us);
        self.times_us.record(&SPEC, us);
        self.rows_examined = self.rows_examined.saturating_add(entry.rows_examined);
        self.rows_sent = self.rows_sent.saturating_add(entry.rows_sent);
        if let Some(database) = entry.database.filter(|&d| self.database.as_deref() != Some(d)) {
            self.database = Some(database.to_owned());
        }
    }

    fn merge(&mut self, other: Accumulator) {
        self.count = self.count.saturating_add(other.count);
        self.total_us = self.total_us.saturating_add(other.total_us);
        self.times_us.add(&SPEC, &other.times_us);
        self.rows_examined = self.rows_examined.saturating_add(other.rows_examined);
        self.rows_sent = self.rows_sent.saturating_add(other.rows_sent);
        if other.database.is_some() {
            self.database = other.database;
        }
    }
}

/// Classes by fingerprint (its UTF-8 bytes), and entry counts, of one
/// stretch of a log. foldhash, not SipHash: the keys are the log's own
/// statements, hashed once per entry, and no one gains from colliding them.
#[derive(Default)]
struct Partial {
    classes: HashMap<Box<[u8]>, Accumulator, foldhash::fast::RandomState>,
    /// The entries of the classes not kept, if any.
    other: Option<Accumulator>,
    admission: Admission,
    /// Classes kept besides the reserved ones.
    new_kept: usize,
    entries: u64,
    corrupt: u64,
    truncated: u64,
}

impl Partial {
    fn new(admission: Admission) -> Partial {
        Partial { admission, ..Partial::default() }
    }

    /// Whether a class not kept yet may be: reserved, or a free slot (which it takes).
    fn admit(&mut self, text: &[u8]) -> bool {
        self.admission.admit(text, &mut self.new_kept)
    }

    fn read(
        kind: LogKind,
        reader: impl BufRead,
        settings: &SlowLogSettings,
        admission: Admission,
    ) -> io::Result<Partial> {
        let mut partial = Partial::new(admission);
        let mut text = Vec::with_capacity(1024);
        kind.read(reader, settings.max_statement_bytes, |entry| {
            let Some(entry) = entry else {
                partial.corrupt += 1;
                return;
            };
            let first_seen = partial.entries;
            partial.entries += 1;
            partial.truncated += u64::from(entry.truncated);
            fingerprint::normalize_into(entry.statement, &mut text);
            if let Some(class) = partial.classes.get_mut(text.as_slice()) {
                class.add(&entry);
            } else if partial.admit(&text) {
                partial
                    .classes
                    .entry(text.as_slice().into())
                    .or_insert_with(|| Accumulator::new(first_seen))
                    .add(&entry);
            } else {
                partial.other.get_or_insert_with(|| Accumulator::new(first_seen)).add(&entry);
            }
        })?;
        Ok(partial)
    }

    /// Fold a later stretch into this one. Its new classes are admitted in
    /// the order it first saw them, so merging stretches in log order keeps
    /// the log's first classes.
    fn merge(&mut self, later: Partial) {
        let offset = self.entries;
        self.entries += later.entries;
        self.corrupt += later.corrupt;
        self.truncated += later.truncated;
        let mut classes: Vec<(Box<[u8]>, Accumulator)> = later.classes.into_iter().collect();
        classes.sort_unstable_by(|a, b| a.1.first_seen.cmp(&b.1.first_seen).then_with(|| a.0.cmp(&b.0)));
        for (text, mut accumulator) in classes {
            if let Some(mine) = self.classes.get_mut(&text) {
                mine.merge(accumulator);
            } else if self.admit(&text) {
                accumulator.first_seen = accumulator.first_seen.saturating_add(offset);
                self.classes.insert(text, accumulator);
            } else {
                self.fold(accumulator);
            }
        }
        if let Some(other) = later.other {
            self.fold(other);
        }
    }

    fn fold(&mut self, accumulator: Accumulator) {
        match &mut self.other {
            Some(other) => other.merge(accumulator),
            None => self.other = Some(accumulator),
        }
    }

    fn finish(self, kind: LogKind, settings: &SlowLogSettings) -> Digest {
        let class = |text: String, id: String, a: Accumulator, folded: bool| QueryClass {
            id,
            fingerprint: text,
            count: a.count,
            total_ms: a.total_us as f64 / 1000.0,
            mean_ms: a.total_us as f64 / 1000.0 / a.count as f64,
            p95_ms: a.times_us.histogram(&SPEC).value_at_quantile(0.95) as f64 / 1000.0,
            rows_examined: a.rows_examined,
            rows_sent: a.rows_sent,
            database: a.database,
            folded,
        };
        let folded = self.other.as_ref().map_or(0, |o| o.count);
        let mut classes: Vec<QueryClass> = self
            .classes
            .into_iter()
            .map(|(text, a)| (String::from_utf8(text.into_vec()).expect("fingerprints are UTF-8"), a))
            .map(|(text, a)| class(text.clone(), fingerprint::id(&text), a, false))
            .chain(self.other.map(|a| class(OTHER_CLASS.into(), OTHER_CLASS.into(), a, true)))
            .collect();
        classes.sort_by(|a, b| {
            b.total_ms
                .total_cmp(&a.total_ms)
                .then_with(|| a.fingerprint.cmp(&b.fingerprint))
                .then_with(|| a.folded.cmp(&b.folded))
        });
        Digest {
            kind,
            classes,
            entries: self.entries,
            corrupt: self.corrupt,
            truncated: self.truncated,
            folded,
            settings: settings.clone(),
        }
    }
}

/// Read a whole slow log from `reader`, of the kind its first bytes show.
pub fn digest(reader: impl BufRead, settings: &SlowLogSettings) -> io::Result<Digest> {
    let mut reader = BufReader::with_capacity(1 << 16, reader);
    let kind = LogKind::detect(reader.fill_buf()?);
    Ok(Partial::read(kind, reader, settings, Admission::first(settings.max_classes))?.finish(kind, settings))
}

/// Below this size one thread is faster than splitting.
const MIN_BYTES_PER_THREAD: u64 = 4 << 20;
const BUFFER_BYTES: usize = 1 << 20;

/// Read a slow log file with one thread per core (at most `threads`).
pub fn digest_file(path: &Path, threads: usize, settings: &SlowLogSettings) -> io::Result<Digest> {
    let mut file = File::open(path)?;
    let bytes = file.metadata()?.len();
    let mut head = vec![0u8; 64 * 1024];
    let n = crate::access_log::read_full(&mut file, &mut head)?;
    let kind = LogKind::detect(&head[..n]);
    let threads = threads.clamp(1, (bytes / MIN_BYTES_PER_THREAD).max(1) as usize);
    let mut starts = vec![0];
    for i in 1..threads {
        starts.push(entry_start(&mut file, bytes * i as u64 / threads as u64, kind)?.max(*starts.last().unwrap()));
    }
    starts.push(bytes);
    let ranges: Vec<(u64, u64)> = starts.windows(2).map(|w| (w[0], w[1])).collect();
    let admission = Admission::first(settings.max_classes);
    let mut partials = read_ranges(path, kind, &ranges, settings, &admission)?;
    // A later range that folded may have folded a class an earlier range
    // kept: read it again admitting exactly the classes the merge keeps.
    let refold: Vec<usize> = (1..partials.len()).filter(|i| partials[*i].other.is_some()).collect();
    let admission = if refold.is_empty() {
        admission
    } else {
        let kept = Admission::only(
            admission.kept_after_merge(partials.iter().map(|p| p.classes.iter().map(|(t, a)| (t, a.first_seen)))),
        );
        let again: Vec<(u64, u64)> = refold.iter().map(|i| ranges[*i]).collect();
        for (i, partial) in refold.iter().zip(read_ranges(path, kind, &again, settings, &kept)?) {
            partials[*i] = partial;
        }
        kept
    };
    let mut total = Partial::new(admission);
    for partial in partials {
        total.merge(partial);
    }
    Ok(total.finish(kind, settings))
}

/// Read each byte range of `path` on its own thread.
fn read_ranges(
    path: &Path,
    kind: LogKind,
    ranges: &[(u64, u64)],
    settings: &SlowLogSettings,
    admission: &Admission,
) -> io::Result<Vec<Partial>> {
    let partials: Vec<io::Result<Partial>> = std::thread::scope(|scope| {
        let workers: Vec<_> = ranges
            .iter()
            .map(|&(start, end)| {
                scope.spawn(move || {
                    let mut file = File::open(path)?;
                    file.seek(SeekFrom::Start(start))?;
                    let reader = BufReader::with_capacity(BUFFER_BYTES, file.take(end - start));
                    Partial::read(kind, reader, settings, admission.clone())
                })
            })
            .collect();
        workers.into_iter().map(|w| w.join().expect("a digest thread panicked")).collect()
    });
    partials.into_iter().collect()
}

/// The offset of the first entry that starts after `from` (or the end): for
/// MySQL a header line (`# ...`) after a statement line, for PostgreSQL a
/// line that does not continue the one before (no leading tab). The line
/// `from` falls in is skipped: what came before it is unknown.
fn entry_start(file: &mut File, from: u64, kind: LogKind) -> io::Result<u64> {
    file.seek(SeekFrom::Start(from))?;
    let mut reader = BufReader::with_capacity(64 * 1024, &mut *file);
    let mut at = from;
    // Only a line's first bytes matter here: a 100 MB line is skipped, not buffered.
    let mut line = Vec::new();
    // The rest of the line `from` falls in.
    at += read_line_head(&mut reader, &mut line)?;
    let mut previous_is_statement = false;
    loop {
        let n = read_line_head(&mut reader, &mut line)?;
        if n == 0 {
            return Ok(at);
        }
        let starts = match kind {
            LogKind::MySql => line.starts_with(b"# ") && previous_is_statement,
            LogKind::Postgres => !line.starts_with(b"\t"),
        };
        if starts {
            return Ok(at);
        }
        previous_is_statement = !line.starts_with(b"#");
        at += n;
    }
}

/// Consume one line (newline included) of `reader`, keeping its first 16
/// bytes in `head`; how many bytes it had (0 at the end).
fn read_line_head(reader: &mut impl BufRead, head: &mut Vec<u8>) -> io::Result<u64> {
    head.clear();
    let mut n = 0u64;
    loop {
        let buffer = reader.fill_buf()?;
        if buffer.is_empty() {
            return Ok(n);
        }
        let newline = memchr::memchr(b'\n', buffer);
        let piece = newline.map_or(buffer.len(), |i| i + 1);
        let keep = piece.min(16usize.saturating_sub(head.len()));
        head.extend_from_slice(&buffer[..keep]);
        reader.consume(piece);
        n += piece as u64;
        if newline.is_some() {
            return Ok(n);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mysql_entry(i: usize) -> String {
        format!(
            "# Time: 251127 00:00:{:02}\n# User@Host: app[app] @ localhost []\n# Thread_id: 1  Schema: crm  QC_hit: No\n\
             # Query_time: 0.{i:06}  Lock_time: 0.0  Rows_sent: 1  Rows_examined: {i}\nSET timestamp=1;\n\
             select * from t{} where id = {i};\n",
            i % 60,
            i % 7
        )
    }

    #[test]
    fn threads_split_at_entries_and_agree_with_one_reader() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("slow.log");
        let log: String = (0..40_000).map(mysql_entry).collect();
        std::fs::write(&path, &log).unwrap();
        let one = digest(log.as_bytes(), &SlowLogSettings::default()).unwrap();
        let many = digest_file(&path, 4, &SlowLogSettings::default()).unwrap();
        assert_eq!((many.entries, many.corrupt), (40_000, 0));
        assert_eq!(one.classes, many.classes);
        assert_eq!(many.classes.len(), 7);
        assert_eq!(many.classes[0].database.as_deref(), Some("crm"));
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(2_000))]
        /// Any bytes, made mostly of the pieces logs are made of: no panic,
        /// and every entry is counted once, as a class member or as corrupt.
        #[test]
        fn any_bytes_digest_without_panicking(pieces in proptest::collection::vec(proptest::prop_oneof![
            proptest::prelude::Just(&b"# Query_time: 0.5  Lock_time: 0  Rows_sent: 1  Rows_examined: 9\n"[..]),
            proptest::prelude::Just(&b"# Thread_id: 1  Schema:  QC_hit: No\n"[..]),
            proptest::prelude::Just(&b"# Query_time: x\n"[..]),
            proptest::prelude::Just(&b"select * from t where a in (1, 2) and b = 'x\\'\n"[..]),
            proptest::prelude::Just(&b"use crm;\nSET timestamp=1;\n"[..]),
            proptest::prelude::Just(&b"2026-11-27 LOG:  duration: 1.5 ms  statement: select 1\n\tfrom t\n"[..]),
            proptest::prelude::Just(&b"\xff\xfe #:\t\r\n"[..]),
            proptest::prelude::Just(&b"/* c */ insert into t values (1), (2)"[..]),
        ], 0..30)) {
            let log = pieces.concat();
            let digest = digest(log.as_slice(), &SlowLogSettings::default()).unwrap();
            let counted: u64 = digest.classes.iter().map(|c| c.count).sum();
            proptest::prop_assert_eq!(counted, digest.entries);
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(500))]
        /// MySQL and PostgreSQL entries with extreme numbers where times and
        /// rows go, and statements longer than a small cap: no panic in a
        /// debug build, every entry counted once, no class over the cap.
        #[test]
        fn extreme_numbers_and_long_statements_never_panic(
            entries in proptest::collection::vec((proptest::sample::select(vec![
                "0", "-1", "1e308", "-1e308", "1e309", "NaN", "inf", "-inf", "18446744073709551615",
                "18446744073709551616", "99999999999999999999999.9", ".", "",
            ]), 0usize..5000, proptest::bool::ANY), 0..20),
            max_classes in 0usize..4,
        ) {
            let settings = SlowLogSettings { max_classes, max_statement_bytes: 1000 };
            let (mut mysql, mut pg) = (String::new(), String::new());
            for (number, long, utf8) in &entries {
                let filler = if *utf8 { "é".repeat(*long) } else { "x".repeat(*long) };
                mysql.push_str(&format!(
                    "# Query_time: {number}  Lock_time: {number}  Rows_sent: {number}  Rows_examined: {number}\n\
                     select {filler} from t{long}\n"
                ));
                pg.push_str(&format!("LOG:  duration: {number} ms  statement: select {filler}\n\tfrom t{long}\n"));
            }
            for log in [mysql, pg] {
                let digest = digest(log.as_bytes(), &settings).unwrap();
                let counted: u64 = digest.classes.iter().map(|c| c.count).sum();
                proptest::prop_assert_eq!(counted, digest.entries);
                proptest::prop_assert!(digest.classes.iter().filter(|c| !c.folded).count() <= max_classes);
                proptest::prop_assert!(digest.classes.iter().all(|c| c.fingerprint.len() <= 1000));
            }
        }
    }

    #[test]
    fn lines_that_straddle_the_buffer_end_come_out_whole() {
        let text = b"first line\r\na line longer than the buffer by far\n\nlast, without a newline";
        let mut lines = Vec::new();
        lines::for_each_line(BufReader::with_capacity(7, &text[..]), 1 << 20, |line, cut| {
            assert!(!cut);
            lines.push(line.to_vec())
        })
        .unwrap();
        let expected: Vec<&[u8]> =
            vec![b"first line", b"a line longer than the buffer by far", b"", b"last, without a newline"];
        assert_eq!(lines, expected);
    }

    #[test]
    fn the_log_kind_shows_in_its_first_entries() {
        assert_eq!(LogKind::detect(mysql_entry(1).as_bytes()), LogKind::MySql);
        let pg = b"2026-11-27 00:00:01 UTC [1] LOG:  duration: 1.0 ms  statement: select 1\n";
        assert_eq!(LogKind::detect(pg), LogKind::Postgres);
        assert_eq!(LogKind::detect(b""), LogKind::MySql);
    }

    #[test]
    fn postgres_logs_split_too() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("postgresql.log");
        let log: String = (0..60_000)
            .map(|i| {
                format!(
                    "2026-11-27 00:00:01.{:03} UTC [{i}] LOG:  duration: {}.5 ms  statement: select *\n\tfrom t where id = {i}\n",
                    i % 1000,
                    i % 10
                )
            })
            .collect();
        std::fs::write(&path, &log).unwrap();
        let many = digest_file(&path, 3, &SlowLogSettings::default()).unwrap();
        assert_eq!((many.kind, many.entries, many.corrupt), (LogKind::Postgres, 60_000, 0));
        assert_eq!(many.classes.len(), 1);
        assert_eq!(many.classes[0].fingerprint, "select * from t where id = ?");
    }
}
