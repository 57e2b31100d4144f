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
pub fn normalize(statement: &str) -> String {
    let mut out = String::with_capacity(statement.len());
    let mut chars = statement.trim().trim_end_matches(';').chars().peekable();
    let mut space = false;
    while let Some(c) = chars.next() {
        let after_space = space;
        let mut push = |out: &mut String, text: char| {
            if space && !out.is_empty() {
                out.push(' ');
            }
            space = false;
            out.push(text);
        };
        match c {
            '\'' | '"' => {
                skip_quoted(&mut chars, c);
                push(&mut out, '?');
            }
            '`' => {
                push(&mut out, '`');
                for q in chars.by_ref() {
                    out.push(q);
                    if q == '`' {
                        break;
                    }
                }
            }
            '-' if chars.peek() == Some(&'-') => {
                chars.by_ref().take_while(|&q| q != '\n').for_each(drop);
                space = true;
            }
            '#' => {
                chars.by_ref().take_while(|&q| q != '\n').for_each(drop);
                space = true;
            }
            '/' if chars.peek() == Some(&'*') => {
                chars.next();
                let mut previous = ' ';
                for q in chars.by_ref() {
                    if previous == '*' && q == '/' {
                        break;
                    }
                    previous = q;
                }
                space = true;
            }
            c if c.is_whitespace() => space = true,
            c if c.is_ascii_digit()
                && (after_space || !out.ends_with(|p: char| p.is_alphanumeric() || p == '_' || p == '$')) =>
            {
                // A number (integer, decimal, exponent, hex): one placeholder.
                while chars.peek().is_some_and(|q| q.is_ascii_alphanumeric() || *q == '.') {
                    chars.next();
                }
                push(&mut out, '?');
            }
            c => {
                for lower in c.to_lowercase() {
                    push(&mut out, lower);
                }
            }
        }
    }
    let out = tidy_punctuation(&out);
    let out = IN_LIST.replace_all(&out, "in (?+)");
    VALUES_LIST.replace_all(&out, "values (?+)").into_owned()
}

/// `a ,b` and `( a )` spelled alike: no space before `,` `)`, one after `,`, none after `(`.
fn tidy_punctuation(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == ' ' && matches!(chars.peek(), Some(',' | ')')) {
            continue;
        }
        out.push(c);
        if c == ',' && chars.peek() != Some(&' ') {
            out.push(' ');
        }
        if c == '(' && chars.peek() == Some(&' ') {
            chars.next();
        }
    }
    out
}

/// Skip a quoted literal, with backslash escapes and doubled quotes.
fn skip_quoted(chars: &mut std::iter::Peekable<std::str::Chars<'_>>, quote: char) {
    while let Some(c) = chars.next() {
        if c == '\\' {
            chars.next();
        } else if c == quote {
            if chars.peek() == Some(&quote) {
                chars.next();
            } else {
                return;
            }
        }
    }
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
