//! `perfsage digest`: MySQL/MariaDB slow query logs, grouped by statement class.
//!
//! The log is streamed entry by entry ([`slowlog::Entries`]); each entry's
//! statement is fingerprinted ([`fingerprint`]) and folded into its class:
//! count, total time, a latency histogram for the p95 (bounded memory per
//! class, whatever the log's length), rows examined and sent. Entries that do
//! not parse are counted, not fatal.

pub mod fingerprint;
pub mod slowlog;

use std::collections::HashMap;
use std::io::BufRead;

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
}

/// The classes, most total time first, and how many entries were corrupt.
#[derive(Debug, Clone)]
pub struct Digest {
    pub classes: Vec<QueryClass>,
    pub entries: u64,
    pub corrupt: u64,
}

struct Accumulator {
    count: u64,
    total_ms: f64,
    /// Query times in microseconds, 3 significant digits.
    times_us: Histogram<u64>,
    rows_examined: u64,
    rows_sent: u64,
}

/// Read a whole slow log from `reader`.
pub fn digest(reader: impl BufRead) -> std::io::Result<Digest> {
    let mut classes: HashMap<String, Accumulator> = HashMap::new();
    let (mut entries, mut corrupt) = (0, 0);
    for entry in slowlog::Entries::new(reader) {
        let Some(entry) = entry? else {
            corrupt += 1;
            continue;
        };
        entries += 1;
        let class = classes.entry(fingerprint::normalize(&entry.statement)).or_insert_with(|| Accumulator {
            count: 0,
            total_ms: 0.0,
            // 1 µs to an hour; longer ones count as an hour.
            times_us: Histogram::new_with_bounds(1, 3_600_000_000, 3).expect("valid bounds and precision"),
            rows_examined: 0,
            rows_sent: 0,
        });
        class.count += 1;
        class.total_ms += entry.query_time_s * 1000.0;
        class.times_us.saturating_record((entry.query_time_s * 1e6).round() as u64);
        class.rows_examined += entry.rows_examined;
        class.rows_sent += entry.rows_sent;
    }
    let mut classes: Vec<QueryClass> = classes
        .into_iter()
        .map(|(text, a)| QueryClass {
            id: fingerprint::id(&text),
            fingerprint: text,
            count: a.count,
            total_ms: a.total_ms,
            mean_ms: a.total_ms / a.count as f64,
            p95_ms: a.times_us.value_at_quantile(0.95) as f64 / 1000.0,
            rows_examined: a.rows_examined,
            rows_sent: a.rows_sent,
        })
        .collect();
    classes.sort_by(|a, b| b.total_ms.total_cmp(&a.total_ms).then_with(|| a.fingerprint.cmp(&b.fingerprint)));
    Ok(Digest { classes, entries, corrupt })
}
