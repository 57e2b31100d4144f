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
//! given as `None`. PostgreSQL does not log rows, so they are 0.
//!
//! A statement grows only to the byte cap [`read`] is given; past it, the
//! entry is marked truncated and its further lines are dropped.

use std::io::BufRead;

use super::slowlog::Entry;

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

/// Append `text` to `statement` up to `max_bytes` in all (cut at a
/// character boundary); whether it was cut.
fn push_capped(statement: &mut String, text: &str, max_bytes: usize) -> bool {
    let room = max_bytes.saturating_sub(statement.len());
    if text.len() <= room {
        statement.push_str(text);
        return false;
    }
    let mut end = room;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    statement.push_str(&text[..end]);
    true
}

/// Read every entry of a PostgreSQL log, lending each to `each` (`None` for
/// a corrupt one). The statement goes through one reused string, cut at `max_bytes`.
pub fn read(reader: impl BufRead, max_bytes: usize, mut each: impl FnMut(Option<Entry<'_>>)) -> std::io::Result<()> {
    let mut statement = String::new();
    // The entry being read: its duration (`None` if unreadable), and whether
    // one of its lines was not UTF-8, and whether it was cut.
    let mut open: Option<Option<f64>> = None;
    let mut unreadable = false;
    let mut truncated = false;
    let mut close = |ms: Option<f64>, statement: &str, unreadable: bool, truncated: bool| {
        let statement = statement.trim();
        each(match ms {
            Some(ms) if !statement.is_empty() && !unreadable => Some(Entry {
                statement,
                query_time_s: ms / 1000.0,
                rows_examined: 0,
                rows_sent: 0,
                database: None,
                truncated,
            }),
            _ => None,
        });
    };
    super::lines::for_each_line(reader, max_bytes, |line, cut| {
        let text = std::str::from_utf8(line);
        if let Some(ms) = open {
            match text {
                Ok(continued) if continued.starts_with('\t') => {
                    let newline_cut = push_capped(&mut statement, "\n", max_bytes);
                    let line_cut = push_capped(&mut statement, &continued[1..], max_bytes);
                    truncated |= cut || newline_cut || line_cut;
                    return;
                }
                Err(_) if line.starts_with(b"\t") => {
                    unreadable = true;
                    return;
                }
                _ => {
                    close(ms, &statement, unreadable, truncated);
                    open = None;
                }
            }
        }
        // Any other line that is not UTF-8 is not an entry either.
        if let Some((ms, first)) = text.ok().and_then(duration_line) {
            statement.clear();
            truncated = push_capped(&mut statement, first, max_bytes) || cut;
            unreadable = false;
            open = Some(ms);
        }
    })?;
    if let Some(ms) = open {
        close(ms, &statement, unreadable, truncated);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::digest::slowlog::tests::Owned;

    fn parse(text: &str) -> Vec<Option<Owned>> {
        let mut entries = Vec::new();
        read(text.as_bytes(), 1 << 20, |e| entries.push(e.map(Owned::from))).unwrap();
        entries
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
