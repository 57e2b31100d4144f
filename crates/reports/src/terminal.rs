//! Plugin strings made safe for a terminal.
//!
//! Titles, details, targets, parameters, evidence and hook output come from
//! plugins and hook scripts, which are not trusted. Printed raw, an escape
//! sequence could clear the screen or rewrite what the operator is asked to
//! consent to, and a bidirectional override could make `rm` read as `mr`.
//! Every renderer that writes for a terminal (the `run`/`check` table and
//! Markdown, `plan`, the `apply` prompt and report, the journal table) passes
//! such strings through [`terminal_safe`]; JSON is escaped by serde already.

use std::borrow::Cow;
use std::fmt::Write as _;

/// Whether `c` must not reach a terminal as is: C0 controls (tab and newline
/// included, since fields are one line), DEL, C1 controls, the bidirectional
/// embeddings, overrides and isolates (U+202A–U+202E, U+2066–U+2069) and marks
/// (U+200E, U+200F, U+061C), and the line and paragraph separators.
pub fn is_unsafe_for_terminal(c: char) -> bool {
    matches!(c,
        '\u{0}'..='\u{1f}' | '\u{7f}'..='\u{9f}'
        | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}'
        | '\u{200e}' | '\u{200f}' | '\u{61c}' | '\u{2028}' | '\u{2029}')
}

/// `text` with every unsafe character escaped: `\n`, `\r`, `\t`, `\x1b` for
/// the C0 controls and DEL, `\u{85}` or `\u{202e}` for the rest. Borrowed
/// when there is nothing to escape.
pub fn terminal_safe(text: &str) -> Cow<'_, str> {
    if !text.chars().any(is_unsafe_for_terminal) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if is_unsafe_for_terminal(c) && (c as u32) < 0x80 => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c if is_unsafe_for_terminal(c) => {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn controls_and_bidi_overrides_are_escaped_and_the_rest_is_kept() {
        assert!(matches!(terminal_safe("plain text, Привет, ｉｄ, \\x1b"), Cow::Borrowed(_)));
        assert_eq!(terminal_safe("a\x1b[2Jb"), "a\\x1b[2Jb");
        assert_eq!(terminal_safe("line\nnext\r\ttab\x00\x7f"), "line\\nnext\\r\\ttab\\x00\\x7f");
        assert_eq!(terminal_safe("\u{85}\u{9b}31m"), "\\u{85}\\u{9b}31m");
        assert_eq!(terminal_safe("evil\u{202e}txt.exe"), "evil\\u{202e}txt.exe");
        for c in ['\u{202a}', '\u{202b}', '\u{202c}', '\u{202d}', '\u{2066}', '\u{2067}', '\u{2068}', '\u{2069}'] {
            let shown = terminal_safe(&c.to_string()).into_owned();
            assert_eq!(shown, format!("\\u{{{:x}}}", c as u32));
        }
        for c in (0u32..0x20).chain(0x7f..0xa0).filter_map(char::from_u32) {
            assert!(!terminal_safe(&c.to_string()).chars().any(is_unsafe_for_terminal), "{c:?}");
        }
    }
}
