//! Statement fingerprints: the same query with other values is the same class.
//!
//! One pass over the text: comments are dropped, string and number literals
//! become `?`, runs of whitespace become one space, everything outside quoted
//! identifiers is lower-cased. Then lists of placeholders collapse: `IN (?, ?,
//! ?)` and `VALUES (?, ?), (?, ?)` become `in (?+)` and `values (?+)`, so a
//! query does not split into one class per list length.

use std::sync::LazyLock;

use regex::Regex;
use sha2::{Digest, Sha256};

static IN_LIST: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"\bin \((?:\?(?:, ?)?)+\)").unwrap());
static VALUES_LIST: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\bvalues ?\((?:\?(?:, ?)?)+\)(?:, ?\((?:\?(?:, ?)?)+\))*").unwrap());

/// The normalized text of `statement`.
///
/// One pass over the bytes (this runs once per log entry, so it is the
/// digest's hot loop): only ASCII is folded; other bytes, which in UTF-8 are
/// never ASCII, are copied as they are, so the result stays valid UTF-8.
pub fn normalize(statement: &str) -> String {
    let text = statement.trim().trim_end_matches(';').as_bytes();
    let mut out = Fingerprint { bytes: Vec::with_capacity(text.len()), space: false };
    let mut i = 0;
    while i < text.len() {
        let c = text[i];
        let next = text.get(i + 1).copied();
        match c {
            b'\'' | b'"' => {
                i = skip_quoted(text, i + 1, c);
                out.push(b'?');
            }
            b'`' => {
                out.push(b'`');
                let end = memchr::memchr(b'`', &text[i + 1..]).map_or(text.len(), |at| i + 1 + at + 1);
                out.bytes.extend_from_slice(&text[i + 1..end]);
                i = end;
            }
            b'-' if next == Some(b'-') => {
                i = skip_line(text, i);
                out.space = true;
            }
            b'#' => {
                i = skip_line(text, i);
                out.space = true;
            }
            b'/' if next == Some(b'*') => {
                i = memchr::memmem::find(&text[i + 2..], b"*/").map_or(text.len(), |at| i + 2 + at + 2);
                out.space = true;
            }
            c if c.is_ascii_whitespace() => {
                out.space = true;
                i += 1;
            }
            c if c.is_ascii_digit()
                && (out.space
                    || !out
                        .bytes
                        .last()
                        .is_some_and(|&p| p.is_ascii_alphanumeric() || p == b'_' || p == b'$' || p >= 0x80)) =>
            {
                // A number (integer, decimal, exponent, hex): one placeholder.
                i += 1;
                while text.get(i).is_some_and(|q| q.is_ascii_alphanumeric() || *q == b'.') {
                    i += 1;
                }
                out.push(b'?');
            }
            c => {
                out.push(c.to_ascii_lowercase());
                i += 1;
            }
        }
    }
    let text = String::from_utf8(out.bytes).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned());
    let text = if text.contains("in (?") { IN_LIST.replace_all(&text, "in (?+)").into_owned() } else { text };
    if text.contains("values") { VALUES_LIST.replace_all(&text, "values (?+)").into_owned() } else { text }
}

/// The normalized bytes, with the spacing rules applied as they are pushed:
/// one space between tokens, none before `,` or `)` nor after `(`, one after `,`.
struct Fingerprint {
    bytes: Vec<u8>,
    /// Whitespace (or a comment) came since the last byte pushed.
    space: bool,
}

impl Fingerprint {
    fn push(&mut self, c: u8) {
        let last = self.bytes.last().copied();
        if self.space && last.is_some() && !matches!(c, b',' | b')') && last != Some(b'(') {
            self.bytes.push(b' ');
        }
        self.bytes.push(c);
        self.space = c == b',';
    }
}

/// Past the end of the line `at` is in (a `--` or `#` comment).
fn skip_line(text: &[u8], at: usize) -> usize {
    memchr::memchr(b'\n', &text[at..]).map_or(text.len(), |newline| at + newline + 1)
}

/// Past the end of a quoted literal starting at `at`, with backslash escapes and doubled quotes.
fn skip_quoted(text: &[u8], mut at: usize, quote: u8) -> usize {
    while at < text.len() {
        match text[at] {
            b'\\' => at += 2,
            c if c == quote && text.get(at + 1) == Some(&quote) => at += 2,
            c if c == quote => return at + 1,
            _ => at += 1,
        }
    }
    text.len()
}

/// A short stable id of a normalized text: the first 8 bytes of its SHA-256, in hex.
pub fn id(normalized: &str) -> String {
    Sha256::digest(normalized.as_bytes())[..8].iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literals_become_placeholders_and_case_and_space_fold() {
        assert_eq!(
            normalize("SELECT  *\n FROM deals WHERE stage = 'won' AND amount > 10.5e3 AND note = \"it''s\";"),
            "select * from deals where stage = ? and amount > ? and note = ?"
        );
        assert_eq!(normalize("select name from t2 where id = 0x1F"), "select name from t2 where id = ?");
    }

    #[test]
    fn escaped_quotes_stay_inside_the_literal() {
        assert_eq!(
            normalize(r"select 1 from t where a = 'x\'y' and b = 'p''q'"),
            "select ? from t where a = ? and b = ?"
        );
    }

    #[test]
    fn lists_collapse_whatever_their_length() {
        let short = normalize("select * from t where id in (1,2)");
        assert_eq!(short, "select * from t where id in (?+)");
        assert_eq!(normalize("SELECT * FROM t WHERE id IN ( 1, 2, 3, 4 )"), short);
        assert_eq!(
            normalize("insert into t (a, b) values (1, 'x'), (2, 'y'),(3,'z')"),
            "insert into t (a, b) values (?+)"
        );
    }

    #[test]
    fn comments_go_and_identifiers_with_digits_stay() {
        assert_eq!(
            normalize("/* app:web1 */ select col1 from `Tab_2` -- trailing\nwhere x=1"),
            "select col1 from `Tab_2` where x=?"
        );
    }

    #[test]
    fn ids_are_stable_and_distinct() {
        assert_eq!(id("select ?"), id("select ?"));
        assert_ne!(id("select ?"), id("select ? from t"));
        assert_eq!(id("select ?").len(), 16);
    }
}
