//! Lines of a slow log, lent from the reader's buffer, with a cap on their
//! length that never buffers the rest (shared by both log kinds).

use std::io::{self, BufRead};

/// Hand every line of `reader` to `each`, without its line ending, with
/// whether it was cut: a line longer than `max_bytes` is cut there (at a
/// UTF-8 character boundary) and the rest of it is skipped, never buffered.
///
/// A line that fits in the reader's buffer is lent straight from it, so the
/// hot loop copies no line; one that straddles the buffer's end is gathered
/// into a reused buffer, up to `max_bytes`.
pub(super) fn for_each_line(
    mut reader: impl BufRead,
    max_bytes: usize,
    mut each: impl FnMut(&[u8], bool),
) -> io::Result<()> {
    let mut straddling = Vec::new();
    loop {
        let buffer = reader.fill_buf()?;
        if buffer.is_empty() {
            return Ok(());
        }
        if let Some(newline) = memchr::memchr(b'\n', buffer).filter(|n| *n <= max_bytes) {
            each(trim_line_end(&buffer[..newline]), false);
            reader.consume(newline + 1);
            continue;
        }
        straddling.clear();
        let mut cut = false;
        loop {
            let buffer = reader.fill_buf()?;
            if buffer.is_empty() {
                break;
            }
            let newline = memchr::memchr(b'\n', buffer);
            let piece = newline.unwrap_or(buffer.len());
            let room = max_bytes - straddling.len();
            cut |= piece > room;
            straddling.extend_from_slice(&buffer[..piece.min(room)]);
            reader.consume(piece + usize::from(newline.is_some()));
            if newline.is_some() {
                break;
            }
        }
        let line = if cut { utf8_floor(&straddling) } else { &straddling[..] };
        each(trim_line_end(line), cut);
    }
}

/// The longest prefix of `bytes` that does not end inside a UTF-8 character
/// (text cut at a byte count stays valid UTF-8 if it was).
pub(super) fn utf8_floor(bytes: &[u8]) -> &[u8] {
    // The start of the last character: at most three continuation bytes back.
    let Some(start) = (bytes.len().saturating_sub(4)..bytes.len()).rev().find(|i| bytes[*i] & 0xC0 != 0x80) else {
        return bytes;
    };
    let width = match bytes[start] {
        0xC0..=0xDF => 2,
        0xE0..=0xEF => 3,
        0xF0..=0xF7 => 4,
        _ => 1,
    };
    if start + width > bytes.len() { &bytes[..start] } else { bytes }
}

/// `line` without its line ending.
fn trim_line_end(line: &[u8]) -> &[u8] {
    let mut end = line.len();
    while end > 0 && matches!(line[end - 1], b'\n' | b'\r') {
        end -= 1;
    }
    &line[..end]
}
