//! A streaming reader of PostgreSQL server logs written with
//! `log_min_duration_statement`.
//!
//! A slow statement is one log line, whatever `log_line_prefix` says before
//! it: `...LOG:  duration: 12.345 ms  statement: select ...`, or for the
//! extended protocol `... execute <unnamed>: select ...` (also `execute
//! S_1:`, `bind`, `parse`). A statement that spans lines continues on lines
//! that start with a tab. Every other line (checkpoints, `DETAIL:
//! parameters: ...`, errors) is not an entry and is skipped. A `duration:`
//! line whose time does not parse or that carries no statement is corrupt:
//! yielded as `None`. PostgreSQL does not log rows, so they are 0.

use std::io::BufRead;

use super::slowlog::Entry;

/// The entries of a PostgreSQL log, `None` for a corrupt one.
pub struct Entries<R> {
    lines: std::io::Lines<R>,
    /// The next entry's first line, read while ending this one.
    pending: Option<String>,
}

impl<R: BufRead> Entries<R> {
    pub fn new(reader: R) -> Self {
        Entries { lines: reader.lines(), pending: None }
    }
}

/// The duration and the statement's first line, if `line` logs one.
fn duration_line(line: &str) -> Option<(Option<f64>, &str)> {
    let at = line.find("duration: ")?;
    let rest = &line[at + "duration: ".len()..];
    let (number, rest) = rest.split_once(" ms")?;
    let ms = number.trim().parse::<f64>().ok().filter(|t| t.is_finite() && *t >= 0.0);
    let rest = rest.trim_start();
    let statement = if let Some(text) = rest.strip_prefix("statement: ") {
        text
    } else if let Some((kind, text)) = rest.split_once(": ") {
        let verb = kind.split_whitespace().next().unwrap_or("");
        if !["execute", "bind", "parse"].contains(&verb) {
            return None;
        }
        text
    } else {
        ""
    };
    Some((ms, statement))
}

impl<R: BufRead> Iterator for Entries<R> {
    type Item = std::io::Result<Option<Entry>>;

    fn next(&mut self) -> Option<Self::Item> {
        // Find the next duration line.
        let (ms, mut statement) = loop {
            let line = match self.pending.take().map(Ok).or_else(|| self.lines.next())? {
                Ok(line) => line,
                Err(e) if e.kind() == std::io::ErrorKind::InvalidData => continue,
                Err(e) => return Some(Err(e)),
            };
            if let Some((ms, first)) = duration_line(&line) {
                break (ms, first.to_owned());
            }
        };
        // Its continuation lines.
        loop {
            match self.lines.next() {
                Some(Ok(line)) if line.starts_with('\t') => {
                    statement.push('\n');
                    statement.push_str(&line[1..]);
                }
                Some(Ok(line)) => {
                    self.pending = Some(line);
                    break;
                }
                Some(Err(e)) if e.kind() == std::io::ErrorKind::InvalidData => {
                    return Some(Ok(None));
                }
                Some(Err(e)) => return Some(Err(e)),
                None => break,
            }
        }
        let statement = statement.trim();
        Some(Ok(match ms {
            Some(ms) if !statement.is_empty() => Some(Entry {
                statement: statement.to_owned(),
                query_time_s: ms / 1000.0,
                rows_examined: 0,
                rows_sent: 0,
                database: None,
            }),
            _ => None,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Vec<Option<Entry>> {
        Entries::new(text.as_bytes()).map(Result::unwrap).collect()
    }

    #[test]
    fn simple_and_extended_protocol_statements_with_continuations() {
        let log = "2026-11-27 00:00:01.001 UTC [811] crm@crm LOG:  duration: 12.500 ms  statement: select *\n\
                   \tfrom deals\n\
                   \twhere stage = 'won'\n\
                   2026-11-27 00:00:01.002 UTC [812] LOG:  checkpoint starting: time\n\
                   2026-11-27 00:00:02.000 UTC [813] crm@crm LOG:  duration: 0.250 ms  execute <unnamed>: select id from contacts where email = $1\n\
                   2026-11-27 00:00:02.000 UTC [813] crm@crm DETAIL:  parameters: $1 = 'a@example.com'\n\
                   2026-11-27 00:00:03.000 UTC [814] LOG:  duration: 3.0 ms  execute S_1: update deals set stage = $1 where id = $2\n";
        let entries = parse(log);
        assert_eq!(entries.len(), 3);
        let first = entries[0].as_ref().unwrap();
        assert_eq!(first.statement, "select *\nfrom deals\nwhere stage = 'won'");
        assert_eq!(first.query_time_s, 0.0125);
        assert_eq!(entries[1].as_ref().unwrap().statement, "select id from contacts where email = $1");
        assert_eq!(entries[2].as_ref().unwrap().query_time_s, 0.003);
    }

    #[test]
    fn unreadable_durations_and_empty_statements_are_corrupt() {
        let log = "LOG:  duration: abc ms  statement: select 1\n\
                   LOG:  duration: 1.0 ms  statement: \n\
                   LOG:  duration: 2.0 ms  statement: select 2\n";
        assert_eq!(parse(log).iter().map(Option::is_some).collect::<Vec<_>>(), [false, false, true]);
    }
}
