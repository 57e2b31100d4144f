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

pub mod fingerprint;
pub mod pglog;
pub mod slowlog;

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom};
use std::path::Path;

use hdrhistogram::Histogram;
use serde::Serialize;

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
}

/// The classes, most total time first, and how many entries were corrupt.
#[derive(Debug, Clone)]
pub struct Digest {
    pub kind: LogKind,
    pub classes: Vec<QueryClass>,
    pub entries: u64,
    pub corrupt: u64,
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

    /// The classes as the snapshot's `queries`: calls, times and (MySQL) rows.
    pub fn queries(&self) -> Vec<crate::model::Query> {
        let rows = |n: u64| (self.kind == LogKind::MySql).then_some(n);
        self.classes
            .iter()
            .map(|c| crate::model::Query {
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
            LogKind::MySql => "mysql",
            LogKind::Postgres => "postgresql",
        }
    }

    /// Read every entry of a log of this kind, lending each to `each`
    /// (`None` for a corrupt one).
    fn read(self, reader: impl BufRead, each: impl FnMut(Option<slowlog::Entry<'_>>)) -> io::Result<()> {
        match self {
            LogKind::MySql => slowlog::read(reader, each),
            LogKind::Postgres => pglog::read(reader, each),
        }
    }
}

struct Accumulator {
    count: u64,
    /// Whole microseconds (what both logs resolve), so a sum does not depend
    /// on the order, nor on how the log was split between threads.
    total_us: u64,
    /// Query times in microseconds, 3 significant digits. u32 counts (4
    /// billion entries of one class in one bucket) halve the footprint, so more
    /// classes' histograms stay in cache: recording is a hot step.
    times_us: Histogram<u32>,
    rows_examined: u64,
    rows_sent: u64,
    database: Option<String>,
}

impl Accumulator {
    fn new() -> Self {
        Accumulator {
            count: 0,
            total_us: 0,
            // 1 µs to an hour; longer ones count as an hour.
            times_us: Histogram::new_with_bounds(1, 3_600_000_000, 3).expect("valid bounds and precision"),
            rows_examined: 0,
            rows_sent: 0,
            database: None,
        }
    }

    fn add(&mut self, entry: &slowlog::Entry<'_>) {
        let us = (entry.query_time_s * 1e6).round() as u64;
        self.count += 1;
        self.total_us += us;
        self.times_us.saturating_record(us);
        self.rows_examined += entry.rows_examined;
        self.rows_sent += entry.rows_sent;
        if let Some(database) = entry.database.filter(|&d| self.database.as_deref() != Some(d)) {
            self.database = Some(database.to_owned());
        }
    }

    fn merge(&mut self, other: Accumulator) {
        self.count += other.count;
        self.total_us += other.total_us;
        self.times_us.add(&other.times_us).expect("same bounds");
        self.rows_examined += other.rows_examined;
        self.rows_sent += other.rows_sent;
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
    entries: u64,
    corrupt: u64,
}

impl Partial {
    fn read(kind: LogKind, reader: impl BufRead) -> io::Result<Partial> {
        let mut partial = Partial::default();
        let mut text = Vec::with_capacity(1024);
        kind.read(reader, |entry| {
            let Some(entry) = entry else {
                partial.corrupt += 1;
                return;
            };
            partial.entries += 1;
            fingerprint::normalize_into(entry.statement, &mut text);
            match partial.classes.get_mut(text.as_slice()) {
                Some(class) => class.add(&entry),
                None => partial.classes.entry(text.as_slice().into()).or_insert_with(Accumulator::new).add(&entry),
            }
        })?;
        Ok(partial)
    }

    fn merge(&mut self, other: Partial) {
        self.entries += other.entries;
        self.corrupt += other.corrupt;
        for (text, accumulator) in other.classes {
            match self.classes.get_mut(&text) {
                Some(mine) => mine.merge(accumulator),
                None => {
                    self.classes.insert(text, accumulator);
                }
            }
        }
    }

    fn finish(self, kind: LogKind) -> Digest {
        let mut classes: Vec<QueryClass> = self
            .classes
            .into_iter()
            .map(|(text, a)| (String::from_utf8(text.into_vec()).expect("fingerprints are UTF-8"), a))
            .map(|(text, a)| QueryClass {
                id: fingerprint::id(&text),
                fingerprint: text,
                count: a.count,
                total_ms: a.total_us as f64 / 1000.0,
                mean_ms: a.total_us as f64 / 1000.0 / a.count as f64,
                p95_ms: a.times_us.value_at_quantile(0.95) as f64 / 1000.0,
                rows_examined: a.rows_examined,
                rows_sent: a.rows_sent,
                database: a.database,
            })
            .collect();
        classes.sort_by(|a, b| b.total_ms.total_cmp(&a.total_ms).then_with(|| a.fingerprint.cmp(&b.fingerprint)));
        Digest { kind, classes, entries: self.entries, corrupt: self.corrupt }
    }
}

/// Hand every line of `reader` to `each`, without its line ending.
///
/// A line that fits in the reader's buffer is lent straight from it, so the
/// hot loop copies no line; one that straddles the buffer's end is gathered
/// into a reused buffer.
fn for_each_line(mut reader: impl BufRead, mut each: impl FnMut(&[u8])) -> io::Result<()> {
    let mut straddling = Vec::new();
    loop {
        let buffer = reader.fill_buf()?;
        if buffer.is_empty() {
            return Ok(());
        }
        if let Some(newline) = memchr::memchr(b'\n', buffer) {
            each(trim_line_end(&buffer[..newline]));
            reader.consume(newline + 1);
        } else {
            straddling.clear();
            reader.read_until(b'\n', &mut straddling)?;
            each(trim_line_end(&straddling));
        }
    }
}

/// `line` without its line ending.
fn trim_line_end(line: &[u8]) -> &[u8] {
    let mut end = line.len();
    while end > 0 && matches!(line[end - 1], b'\n' | b'\r') {
        end -= 1;
    }
    &line[..end]
}

/// Read a whole slow log from `reader`, of the kind its first bytes show.
pub fn digest(reader: impl BufRead) -> io::Result<Digest> {
    let mut reader = BufReader::with_capacity(1 << 16, reader);
    let kind = LogKind::detect(reader.fill_buf()?);
    Ok(Partial::read(kind, reader)?.finish(kind))
}

/// Below this size one thread is faster than splitting.
const MIN_BYTES_PER_THREAD: u64 = 4 << 20;
const BUFFER_BYTES: usize = 1 << 20;

/// Read a slow log file with one thread per core (at most `threads`).
pub fn digest_file(path: &Path, threads: usize) -> io::Result<Digest> {
    let mut file = File::open(path)?;
    let bytes = file.metadata()?.len();
    let mut head = vec![0u8; 64 * 1024];
    let n = crate::sources::access_log::read_full(&mut file, &mut head)?;
    let kind = LogKind::detect(&head[..n]);
    let threads = threads.clamp(1, (bytes / MIN_BYTES_PER_THREAD).max(1) as usize);
    let mut starts = vec![0];
    for i in 1..threads {
        starts.push(entry_start(&mut file, bytes * i as u64 / threads as u64, kind)?.max(*starts.last().unwrap()));
    }
    starts.push(bytes);
    let partials: Vec<io::Result<Partial>> = std::thread::scope(|scope| {
        let workers: Vec<_> = starts
            .windows(2)
            .map(|range| {
                let (start, end) = (range[0], range[1]);
                scope.spawn(move || {
                    let mut file = File::open(path)?;
                    file.seek(SeekFrom::Start(start))?;
                    Partial::read(kind, BufReader::with_capacity(BUFFER_BYTES, file.take(end - start)))
                })
            })
            .collect();
        workers.into_iter().map(|w| w.join().expect("a digest thread panicked")).collect()
    });
    let mut total = Partial::default();
    for partial in partials {
        total.merge(partial?);
    }
    Ok(total.finish(kind))
}

/// The offset of the first entry that starts after `from` (or the end): for
/// MySQL a header line (`# ...`) after a statement line, for PostgreSQL a
/// line that does not continue the one before (no leading tab). The line
/// `from` falls in is skipped: what came before it is unknown.
fn entry_start(file: &mut File, from: u64, kind: LogKind) -> io::Result<u64> {
    file.seek(SeekFrom::Start(from))?;
    let mut reader = BufReader::with_capacity(64 * 1024, &mut *file);
    let mut at = from;
    let mut line = Vec::new();
    // The rest of the line `from` falls in.
    at += reader.read_until(b'\n', &mut line)? as u64;
    let mut previous_is_statement = false;
    loop {
        line.clear();
        let n = reader.read_until(b'\n', &mut line)?;
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
        at += n as u64;
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
        let one = digest(log.as_bytes()).unwrap();
        let many = digest_file(&path, 4).unwrap();
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
            let digest = digest(log.as_slice()).unwrap();
            let counted: u64 = digest.classes.iter().map(|c| c.count).sum();
            proptest::prop_assert_eq!(counted, digest.entries);
        }
    }

    #[test]
    fn lines_that_straddle_the_buffer_end_come_out_whole() {
        let text = b"first line\r\na line longer than the buffer by far\n\nlast, without a newline";
        let mut lines = Vec::new();
        for_each_line(BufReader::with_capacity(7, &text[..]), |line| lines.push(line.to_vec())).unwrap();
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
        let many = digest_file(&path, 3).unwrap();
        assert_eq!((many.kind, many.entries, many.corrupt), (LogKind::Postgres, 60_000, 0));
        assert_eq!(many.classes.len(), 1);
        assert_eq!(many.classes[0].fingerprint, "select * from t where id = ?");
    }
}
