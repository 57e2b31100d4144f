//! A streaming reader of MySQL and MariaDB slow query logs.
//!
//! An entry is a block of `# Key: value ...` header lines (`# Time:`,
//! `# User@Host:`, `# Query_time: ... Rows_examined: ...`) followed by the
//! statement, up to the next header. `SET timestamp=...;` and `use db;` lines
//! belong to the server, not to the statement; the banner the server writes
//! when it (re)opens the log is skipped. An entry without a readable
//! `Query_time` or without a statement is corrupt: yielded as `None`.

use std::io::BufRead;

/// One parsed entry.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub statement: String,
    pub query_time_s: f64,
    pub rows_examined: u64,
    pub rows_sent: u64,
    /// The schema it ran in (`# ... Schema: crm` or a `use crm;` line), where logged.
    pub database: Option<String>,
}

/// The entries of a slow log, `None` for a corrupt one. Lines are read into
/// one reused buffer (a log has several lines per entry; this is the hot loop).
pub struct Entries<R> {
    reader: R,
    line: Vec<u8>,
    /// The first header line of the next entry, read while ending this one.
    pending: Option<String>,
    done: bool,
}

impl<R: BufRead> Entries<R> {
    pub fn new(reader: R) -> Self {
        Entries { reader, line: Vec::with_capacity(4096), pending: None, done: false }
    }

    /// The next line without its line ending: `Ok(None)` at the end, `Ok(Some(Err(())))` if not UTF-8.
    fn next_line(&mut self) -> std::io::Result<Option<Result<&str, ()>>> {
        self.line.clear();
        if self.reader.read_until(b'\n', &mut self.line)? == 0 {
            return Ok(None);
        }
        let mut end = self.line.len();
        while end > 0 && matches!(self.line[end - 1], b'\n' | b'\r') {
            end -= 1;
        }
        Ok(Some(std::str::from_utf8(&self.line[..end]).map_err(|_| ())))
    }
}

#[derive(Default)]
struct Partial {
    query_time_s: Option<f64>,
    rows_examined: u64,
    rows_sent: u64,
    statement: String,
    database: Option<String>,
    started: bool,
    /// A line of it was not UTF-8.
    unreadable: bool,
}

impl Partial {
    fn header(&mut self, line: &str) {
        self.started = true;
        let mut words = line.trim_start_matches('#').split_whitespace().peekable();
        while let Some(word) = words.next() {
            let Some(&value) = words.peek() else { break };
            match word {
                "Query_time:" => self.query_time_s = value.parse().ok().filter(|t: &f64| t.is_finite() && *t >= 0.0),
                "Rows_examined:" => self.rows_examined = value.parse().unwrap_or(0),
                "Rows_sent:" => self.rows_sent = value.parse().unwrap_or(0),
                "Schema:" => self.database = Some(value.to_owned()),
                _ => {}
            }
        }
    }

    fn finish(self) -> Option<Entry> {
        let statement = self.statement.trim();
        match self.query_time_s {
            Some(query_time_s) if !statement.is_empty() && !self.unreadable => Some(Entry {
                statement: statement.to_owned(),
                query_time_s,
                rows_examined: self.rows_examined,
                rows_sent: self.rows_sent,
                database: self.database,
            }),
            _ => None,
        }
    }
}

fn is_banner(line: &str) -> bool {
    line.contains(", Version: ") || line.starts_with("Tcp port:") || line.starts_with("Time ")
}

fn is_set_timestamp(line: &str) -> bool {
    line.trim_start().get(..14).is_some_and(|head| head.eq_ignore_ascii_case("set timestamp="))
}

/// The database of a `use crm;` line the server writes before a statement.
fn use_database(line: &str) -> Option<&str> {
    let line = line.trim();
    let head = line.get(..4)?;
    (head.eq_ignore_ascii_case("use ") && line.ends_with(';')).then(|| line[4..line.len() - 1].trim().trim_matches('`'))
}

impl<R: BufRead> Iterator for Entries<R> {
    type Item = std::io::Result<Option<Entry>>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let mut entry = Partial::default();
        if let Some(line) = self.pending.take() {
            entry.header(&line);
        }
        loop {
            let line = match self.next_line() {
                Ok(None) => {
                    self.done = true;
                    return entry.started.then(|| Ok(entry.finish()));
                }
                Ok(Some(Err(()))) => {
                    // Not UTF-8: this entry is corrupt (a statement line as far
                    // as headers go: the next header starts a new entry).
                    entry.unreadable = true;
                    entry.statement.push('\n');
                    continue;
                }
                Err(e) => return Some(Err(e)),
                Ok(Some(Ok(line))) => line,
            };
            if line.starts_with('#') {
                if !entry.statement.is_empty() {
                    self.pending = Some(line.to_owned());
                    return Some(Ok(entry.finish()));
                }
                entry.header(line);
            } else if let Some(database) = use_database(line).filter(|_| entry.statement.is_empty()) {
                entry.database = Some(database.to_owned());
            } else if !entry.started
                || is_set_timestamp(line)
                || (entry.statement.is_empty() && (is_banner(line) || line.trim().is_empty()))
            {
                // Before the first header, only the banner (or garbage) can be here.
                continue;
            } else {
                entry.statement.push_str(line);
                entry.statement.push('\n');
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Vec<Option<Entry>> {
        Entries::new(text.as_bytes()).map(Result::unwrap).collect()
    }

    #[test]
    fn mariadb_and_mysql_headers_parse() {
        let log = "/usr/sbin/mariadbd, Version: 10.11.6-MariaDB-log (Debian 12). started with:\n\
                   Tcp port: 3306  Unix socket: /run/mysqld/mysqld.sock\n\
                   Time                Id Command  Argument\n\
                   # Time: 241126 22:00:01\n\
                   # User@Host: root[root] @ localhost []\n\
                   # Thread_id: 31  Schema: test  QC_hit: No\n\
                   # Query_time: 0.250000  Lock_time: 0.000066  Rows_sent: 1  Rows_examined: 5000\n\
                   use test;\n\
                   SET timestamp=1732658401;\n\
                   select count(*)\n  from deals where stage = 'won';\n\
                   # User@Host: root[root] @ localhost []  Id:     8\n\
                   # Query_time: 0.5  Lock_time: 0.0 Rows_sent: 2  Rows_examined: 7\n\
                   SET timestamp=1732658402;\n\
                   select 2;\n";
        let entries = parse(log);
        assert_eq!(entries.len(), 2);
        let first = entries[0].as_ref().unwrap();
        assert_eq!(first.statement, "select count(*)\n  from deals where stage = 'won';");
        assert_eq!((first.query_time_s, first.rows_sent, first.rows_examined), (0.25, 1, 5000));
        assert_eq!(entries[1].as_ref().unwrap().statement, "select 2;");
    }

    #[test]
    fn entries_without_time_or_statement_are_corrupt() {
        let log = "# Query_time: abc Rows_sent: 1\nselect 1;\n\
                   # Query_time: 0.1\n# User@Host: x\n# Query_time: 0.2 Rows_sent: 0 Rows_examined: 0\nselect 3;\n\
                   # Query_time: 0.3\n";
        let entries = parse(log);
        assert_eq!(entries.len(), 3);
        assert_eq!(entries[0], None, "unreadable Query_time");
        assert_eq!(entries[1].as_ref().unwrap().query_time_s, 0.2, "the last Query_time of a header block counts");
        assert_eq!(entries[2], None, "no statement before the end");
    }
}
