//! A streaming reader of MySQL and MariaDB slow query logs.
//!
//! An entry is a block of `# Key: value ...` header lines (`# Time:`,
//! `# User@Host:`, `# Query_time: ... Rows_examined: ...`) followed by the
//! statement, up to the next header. `SET timestamp=...;` and `use db;` lines
//! belong to the server, not to the statement; the banner the server writes
//! when it (re)opens the log is skipped. An entry without a readable
//! `Query_time` or without a statement is corrupt: given as `None`.
//!
//! This is the digest's hot loop: lines go through one reused buffer and the
//! statement and schema through reused strings, and each entry is lent to the
//! caller ([`read`]), so an entry costs no allocation.
//!
//! A statement grows only to the byte cap [`read`] is given: past it, its
//! further lines are dropped and the entry is marked [`Entry::truncated`].

use std::io::BufRead;

/// One parsed entry, borrowing the reader's buffers.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Entry<'a> {
    pub statement: &'a str,
    pub query_time_s: f64,
    pub rows_examined: u64,
    pub rows_sent: u64,
    /// The schema it ran in (`# ... Schema: crm` or a `use crm;` line), where logged.
    pub database: Option<&'a str>,
    /// The statement (or one of its lines) was longer than the cap and was cut.
    pub truncated: bool,
}

/// The entry being read, its buffers kept from one entry to the next.
#[derive(Default)]
struct Pending {
    query_time_s: Option<f64>,
    rows_examined: u64,
    rows_sent: u64,
    /// Its lines as read: checked for UTF-8 once, when the entry is whole.
    statement: Vec<u8>,
    database: String,
    has_database: bool,
    started: bool,
    truncated: bool,
}

impl Pending {
    fn reset(&mut self) {
        self.query_time_s = None;
        self.rows_examined = 0;
        self.rows_sent = 0;
        self.statement.clear();
        self.has_database = false;
        self.started = false;
        self.truncated = false;
    }

    /// Append one statement line, up to `max_bytes` in all (cut at a character boundary).
    fn push_line(&mut self, line: &[u8], cut: bool, max_bytes: usize) {
        self.truncated |= cut;
        let room = max_bytes.saturating_sub(self.statement.len());
        if line.len() < room {
            self.statement.extend_from_slice(line);
            self.statement.push(b'\n');
        } else {
            self.truncated = true;
            self.statement.extend_from_slice(super::lines::utf8_floor(&line[..room]));
        }
    }

    fn set_database(&mut self, database: &[u8]) {
        // A schema name that is not UTF-8 is no schema we could name.
        if let Ok(database) = std::str::from_utf8(database) {
            self.database.clear();
            self.database.push_str(database);
            self.has_database = true;
        }
    }

    /// A `# Key: value  Key: value` line, read as bytes. The commonest ones
    /// hold no key read here and are skipped unread.
    fn header(&mut self, line: &[u8]) {
        self.started = true;
        if [&b"# Time: "[..], b"# User@Host: ", b"# Rows_affected: "].iter().any(|skip| line.starts_with(skip)) {
            return;
        }
        // Words split at spaces by hand (an iterator chain costs three times
        // as much here). A word ending in `:` is a key and the word after it
        // its value, unless that is a key too: MariaDB writes `Schema:` with
        // nothing after it when no schema is selected. Other words (`@
        // localhost []`) are neither.
        let mut key: Option<&[u8]> = None;
        let mut i = 1;
        while i < line.len() {
            if line[i] == b' ' {
                i += 1;
                continue;
            }
            let start = i;
            while i < line.len() && line[i] != b' ' {
                i += 1;
            }
            let word = &line[start..i];
            match word.strip_suffix(b":") {
                Some(next_key) => key = Some(next_key),
                None => {
                    if let Some(key) = key.take() {
                        self.header_field(key, word);
                    }
                }
            }
        }
    }

    fn header_field(&mut self, key: &[u8], value: &[u8]) {
        match key {
            b"Query_time" => self.query_time_s = parse::<f64>(value).filter(|t| t.is_finite() && *t >= 0.0),
            b"Rows_examined" => self.rows_examined = parse(value).unwrap_or(0),
            b"Rows_sent" => self.rows_sent = parse(value).unwrap_or(0),
            b"Schema" => self.set_database(value),
            _ => {}
        }
    }

    /// The entry, if it is whole: a readable time and a UTF-8 statement.
    fn entry(&self) -> Option<Entry<'_>> {
        let statement = std::str::from_utf8(self.statement.trim_ascii()).ok()?;
        match self.query_time_s {
            Some(query_time_s) if !statement.is_empty() => Some(Entry {
                statement,
                query_time_s,
                rows_examined: self.rows_examined,
                rows_sent: self.rows_sent,
                database: self.has_database.then_some(self.database.as_str()),
                truncated: self.truncated,
            }),
            _ => None,
        }
    }
}

fn parse<T: std::str::FromStr>(bytes: &[u8]) -> Option<T> {
    std::str::from_utf8(bytes).ok()?.parse().ok()
}

/// A line of the banner the server writes when it (re)opens the log:
/// `/usr/sbin/mariadbd, Version: ... started with:`, `Tcp port: ...` and
/// `Time  Id Command  Argument`. Checked on every statement line, so by its
/// ends only.
fn is_banner(line: &[u8]) -> bool {
    (line.ends_with(b"started with:") && memchr::memmem::find(line, b", Version: ").is_some())
        || line.starts_with(b"Tcp port: ")
        || (line.starts_with(b"Time ") && line.ends_with(b"Argument"))
}

fn is_set_timestamp(line: &[u8]) -> bool {
    line.trim_ascii_start().get(..14).is_some_and(|head| head.eq_ignore_ascii_case(b"set timestamp="))
}

/// The database of a `use crm;` line the server writes before a statement.
fn use_database(line: &[u8]) -> Option<&[u8]> {
    let line = line.trim_ascii();
    if !line.get(..4)?.eq_ignore_ascii_case(b"use ") {
        return None;
    }
    let name = line[4..].strip_suffix(b";")?.trim_ascii();
    Some(name.strip_prefix(b"`").and_then(|n| n.strip_suffix(b"`")).unwrap_or(name))
}

/// Read every entry of a slow log, lending each to `each` (`None` for a
/// corrupt one). A statement is cut at `max_bytes`.
pub fn read(reader: impl BufRead, max_bytes: usize, mut each: impl FnMut(Option<Entry<'_>>)) -> std::io::Result<()> {
    let mut entry = Pending::default();
    super::lines::for_each_line(reader, max_bytes, |line, cut| {
        if line.first() == Some(&b'#') {
            if !entry.statement.is_empty() {
                each(entry.entry());
                entry.reset();
            }
            entry.header(line);
        } else if let Some(database) = use_database(line).filter(|_| entry.statement.is_empty()) {
            entry.set_database(database);
        } else if is_banner(line) {
            // The server restarted: an entry cut short by it is corrupt.
            if entry.started {
                each(entry.entry());
                entry.reset();
            }
        } else if !entry.started
            || is_set_timestamp(line)
            || (entry.statement.is_empty() && line.trim_ascii().is_empty())
        {
            // Before the first header, only garbage can be here.
        } else if entry.statement.len() < max_bytes {
            // Bytes that are not UTF-8 make the entry corrupt when it ends.
            entry.push_line(line, cut, max_bytes);
        } else {
            // Past the cap: the rest of the statement is dropped.
            entry.truncated = true;
        }
    })?;
    if entry.started {
        each(entry.entry());
    }
    Ok(())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// An entry with its own strings, to collect.
    #[derive(Debug, PartialEq)]
    pub(crate) struct Owned {
        pub truncated: bool,
        pub statement: String,
        pub query_time_s: f64,
        pub rows_examined: u64,
        pub rows_sent: u64,
        pub database: Option<String>,
    }

    impl From<Entry<'_>> for Owned {
        fn from(e: Entry<'_>) -> Owned {
            Owned {
                truncated: e.truncated,
                statement: e.statement.to_owned(),
                query_time_s: e.query_time_s,
                rows_examined: e.rows_examined,
                rows_sent: e.rows_sent,
                database: e.database.map(str::to_owned),
            }
        }
    }

    fn parse(text: &str) -> Vec<Option<Owned>> {
        let mut entries = Vec::new();
        read(text.as_bytes(), 1 << 20, |e| entries.push(e.map(Owned::from))).unwrap();
        entries
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
    fn a_restart_banner_ends_the_entry_before_it() {
        let banner = "/usr/sbin/mysqld, Version: 8.0.36 (MySQL Community Server - GPL). started with:\n\
                      Tcp port: 3306  Unix socket: /var/run/mysqld/mysqld.sock\n\
                      Time                 Id Command    Argument\n";
        let log = format!(
            "# Query_time: 0.1  Rows_sent: 0  Rows_examined: 0\nselect 1;\n{banner}\
             # Query_time: 0.2  Rows_sent: 0  Rows_examined: 0\n{banner}\
             # Query_time: 0.3  Rows_sent: 0  Rows_examined: 0\nselect 3;\n"
        );
        let entries = parse(&log);
        assert_eq!(entries.len(), 3);
        assert_eq!(entries[0].as_ref().unwrap().statement, "select 1;", "the banner is not part of the statement");
        assert_eq!(entries[1], None, "a header block cut short by the restart is corrupt");
        assert_eq!(entries[2].as_ref().unwrap().query_time_s, 0.3);
    }

    #[test]
    fn an_empty_schema_is_no_schema() {
        let log = "# Thread_id: 8  Schema:   QC_hit: No\n# Query_time: 0.1  Rows_sent: 0  Rows_examined: 0\nselect 1;\n\
                   # Thread_id: 9  Schema: crm  QC_hit: No\n# Query_time: 0.1  Rows_sent: 0  Rows_examined: 0\nselect 2;\n";
        let entries = parse(log);
        assert_eq!(entries[0].as_ref().unwrap().database, None);
        assert_eq!(entries[1].as_ref().unwrap().database.as_deref(), Some("crm"));
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
