//! Statement fingerprints: the same query with other values is the same class.
//!
//! One pass over the text: comments are dropped, string and number literals
//! become `?`, runs of whitespace become one space, everything outside quoted
//! identifiers is lower-cased, and lists of placeholders collapse as their
//! closing parenthesis is pushed: `IN (?, ?, ?)` and `VALUES (?, ?), (?, ?)`
//! become `in (?+)` and `values (?+)`, so a query does not split into one class
//! per list length.
//!
//! This runs once per log entry, so it is the digest's hot loop: it writes
//! into a buffer the caller reuses ([`normalize_into`]), allocates nothing,
//! and leaves the class lookup to borrow the bytes.

use sha2::{Digest, Sha256};

/// The normalized text of `statement`.
pub fn normalize(statement: &str) -> String {
    let mut bytes = Vec::new();
    normalize_into(statement, &mut bytes);
    String::from_utf8(bytes).expect("normalize_into keeps UTF-8 whole")
}

/// The normalized text of `statement`, written into `out` (cleared first).
///
/// Only ASCII is folded; other bytes, which in UTF-8 are never ASCII, are
/// copied as they are and every cut falls on an ASCII byte, so `out` holds
/// valid UTF-8.
pub fn normalize_into(statement: &str, out: &mut Vec<u8>) {
    normalize_with(statement, out, true);
}

/// [`normalize_into`], optionally without collapsing lists (the tests check
/// the collapsing against a regex).
fn normalize_with(statement: &str, out: &mut Vec<u8>, collapse_lists: bool) {
    out.clear();
    // Leading and trailing whitespace push nothing; trailing `;`s must go.
    let mut text = statement.as_bytes().trim_ascii();
    while let [rest @ .., b';'] = text {
        text = rest.trim_ascii_end();
    }
    let mut out = Fingerprint { bytes: out, space: false, collapse_lists };
    let mut i = 0;
    while i < text.len() {
        let c = text[i];
        let class = CLASS[usize::from(c)];
        if class & WORD_START != 0 {
            // The commonest bytes: a keyword or a name, pushed at once.
            let start = i;
            i += 1;
            while i < text.len() && CLASS[usize::from(text[i])] & WORD != 0 {
                i += 1;
            }
            out.push_word(&text[start..i]);
            continue;
        }
        if class & SPACE != 0 {
            out.space = true;
            i += 1;
            continue;
        }
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
            b'-' if text.get(i + 1) == Some(&b'-') => {
                i = skip_line(text, i);
                out.space = true;
            }
            b'#' => {
                i = skip_line(text, i);
                out.space = true;
            }
            b'/' if text.get(i + 1) == Some(&b'*') => {
                i = memchr::memmem::find(&text[i + 2..], b"*/").map_or(text.len(), |at| i + 2 + at + 2);
                out.space = true;
            }
            b'0'..=b'9' if out.space || !out.bytes.last().is_some_and(|&p| is_word_byte(p) || p == b'$') => {
                // A number (integer, decimal, exponent, hex): one placeholder.
                i += 1;
                while i < text.len() && CLASS[usize::from(text[i])] & NUMBER != 0 {
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
}

/// Byte classes, looked up in one table load rather than a chain of range
/// checks (the scan visits every byte of every statement).
const WORD: u8 = 1; // [A-Za-z0-9_]: goes on a word
const WORD_START: u8 = 2; // [A-Za-z_]: starts one
const NUMBER: u8 = 4; // [A-Za-z0-9.]: goes on a number (decimals, exponents, hex)
const SPACE: u8 = 8; // ASCII whitespace
static CLASS: [u8; 256] = {
    let mut table = [0u8; 256];
    let mut b = 0;
    while b < 128 {
        let c = b as u8;
        let letter = c.is_ascii_alphabetic();
        let digit = c.is_ascii_digit();
        table[b] = if letter || digit || c == b'_' { WORD } else { 0 }
            | if letter || c == b'_' { WORD_START } else { 0 }
            | if letter || digit || c == b'.' { NUMBER } else { 0 }
            | if c.is_ascii_whitespace() { SPACE } else { 0 };
        b += 1;
    }
    table
};

/// A byte of a word, as the regex `\b` sees it (non-ASCII bytes belong to letters).
fn is_word_byte(b: u8) -> bool {
    CLASS[usize::from(b)] & WORD != 0 || b >= 0x80
}

/// The normalized bytes, with the spacing rules applied as they are pushed:
/// one space between tokens, none before `,` or `)` nor after `(`, one after `,`.
struct Fingerprint<'a> {
    bytes: &'a mut Vec<u8>,
    /// Whitespace (or a comment) came since the last byte pushed.
    space: bool,
    collapse_lists: bool,
}

impl Fingerprint<'_> {
    fn separate(&mut self, c: u8) {
        let last = self.bytes.last().copied();
        if self.space && last.is_some() && !matches!(c, b',' | b')') && last != Some(b'(') {
            self.bytes.push(b' ');
        }
    }

    fn push(&mut self, c: u8) {
        self.separate(c);
        self.bytes.push(c);
        self.space = c == b',';
        if c == b')' && self.collapse_lists {
            self.collapse_list();
        }
    }

    /// A run of ASCII letters, digits and `_` that starts with a letter or
    /// `_`, lower-cased: none of its bytes needs a rule of its own.
    fn push_word(&mut self, word: &[u8]) {
        self.separate(word[0]);
        // One loop that copies and folds (words are short: a call to memcpy
        // and a second pass to lower-case cost more than the bytes).
        self.bytes.extend(word.iter().map(u8::to_ascii_lowercase));
        self.space = false;
    }

    /// Just after a `)`: a list of placeholders after `in` or `values` becomes
    /// `(?+)`, and further `, (?, ?)` rows after `values (?+)` join it.
    fn collapse_list(&mut self) {
        let bytes = &mut *self.bytes;
        let close = bytes.len() - 1;
        let Some(open) = bytes[..close].iter().rposition(|&b| b == b'(') else { return };
        if !is_placeholder_list(&bytes[open + 1..close]) {
            return;
        }
        let before = &bytes[..open];
        if ends_with_word(before, b"in", true)
            || ends_with_word(before, b"values", true)
            || ends_with_word(before, b"values", false)
        {
            bytes.truncate(open);
            if bytes.last() != Some(&b' ') {
                bytes.push(b' '); // `values(` reads `values (`
            }
            bytes.extend_from_slice(b"(?+)");
        } else if let Some(row) =
            [&b"values (?+), "[..], b"values (?+),"].iter().find(|row| ends_with_word(before, row, false))
        {
            bytes.truncate(open - row.len() + b"values (?+)".len());
        }
    }
}

/// `text` ends with `word`, not preceded by a word byte (as the regex `\bword`
/// reads it), and then with a space if `space`.
fn ends_with_word(text: &[u8], word: &[u8], space: bool) -> bool {
    let text = if space {
        match text.strip_suffix(b" ") {
            Some(text) => text,
            None => return false,
        }
    } else {
        text
    };
    text.strip_suffix(word).is_some_and(|rest| !rest.last().is_some_and(|&b| is_word_byte(b)))
}

/// `^(\?(, ?)?)+$`: placeholders, each optionally followed by `,` or `, `.
fn is_placeholder_list(inner: &[u8]) -> bool {
    let mut i = 0;
    if inner.is_empty() {
        return false;
    }
    while i < inner.len() {
        if inner[i] != b'?' {
            return false;
        }
        i += 1;
        if inner.get(i) == Some(&b',') {
            i += 1;
            if inner.get(i) == Some(&b' ') {
                i += 1;
            }
        }
    }
    true
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
    use proptest::prelude::*;
    use regex::Regex;

    /// Lists collapsed the plain way: two regexes over the whole text.
    fn collapse_by_regex(text: &str) -> String {
        let in_list = Regex::new(r"\bin \((?:\?(?:, ?)?)+\)").unwrap();
        let values_list = Regex::new(r"\bvalues ?\((?:\?(?:, ?)?)+\)(?:, ?\((?:\?(?:, ?)?)+\))*").unwrap();
        let text = in_list.replace_all(text, "in (?+)");
        values_list.replace_all(&text, "values (?+)").into_owned()
    }

    /// Statements made of the tokens that matter to lists: keywords, names,
    /// literals, parentheses, commas, spacing.
    fn statement() -> impl Strategy<Value = String> {
        let token = prop_oneof![
            Just("in"),
            Just("IN"),
            Just("values"),
            Just("VALUES"),
            Just("join"),
            Just("x"),
            Just("t1"),
            Just("("),
            Just(")"),
            Just(","),
            Just(", "),
            Just(" "),
            Just("1"),
            Just("'a'"),
            Just("$1"),
            Just("now()"),
            Just("?"),
            Just("-- c\n"),
            Just("`q(`"),
        ];
        proptest::collection::vec(token, 0..40).prop_map(|tokens| tokens.concat())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(20_000))]
        #[test]
        fn lists_collapse_in_one_pass_as_the_regexes_do(text in statement()) {
            let mut plain = Vec::new();
            normalize_with(&text, &mut plain, false);
            let expected = collapse_by_regex(std::str::from_utf8(&plain).unwrap());
            prop_assert_eq!(normalize(&text), expected);
        }
    }

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
