//! Injection payloads for hook parameters, shared by the host-side and the
//! script-side batteries (`tests/hook_params.rs`, `tests/db_index.rs`).
//!
//! Each payload that could run a command would `touch` the canary, so a
//! canary that is still absent afterwards proves none ran.

use std::path::Path;

/// `(name, value)`: every payload, naming the canary where it would run a command.
pub fn payloads(canary: &Path) -> Vec<(&'static str, String)> {
    let c = canary.display();
    vec![
        ("glob u[s]r", "u[s]r".to_string()),
        ("glob *", "*".to_string()),
        ("the mysql attack", format!("u[s`\\! touch {c}>/tmp/x #]r")),
        ("backticks", format!("`touch {c}`")),
        ("command substitution", format!("$(touch {c})")),
        ("semicolon", format!("x; touch {c}")),
        ("newline", format!("x\ntouch {c}")),
        ("mysql shell escape", format!("\\! touch {c}")),
        ("option-like --", "--".to_string()),
        ("single quotes", format!("x' ; touch {c}; '")),
        ("double quotes", format!("x\" ; touch {c}; \"")),
        ("escape sequence", "\x1b[2J".to_string()),
        ("4 KiB string", "a".repeat(4096)),
        ("cyrillic look-alike", "us\u{435}r".to_string()),
        ("fullwidth look-alike", "ｉｄ".to_string()),
        ("bidi override", "a\u{202e}b".to_string()),
    ]
}
