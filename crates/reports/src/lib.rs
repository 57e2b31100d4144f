//! Reports: the ranked result rendered for a person or a machine.
//!
//! [`Report`] is the public shape (`--format json` is its serialization and a
//! stable interface: `findings`, `plugins`, `snapshot_meta`); the table and
//! Markdown renderers draw the same data. Renderers are pure: they return
//! strings and never touch the terminal, files or clocks, so the same check
//! renders byte-identically every time.

pub mod fleet;
mod json;
mod markdown;
mod render;
mod report;
mod table;
mod terminal;

pub use json::render as render_json;
pub use markdown::render as render_markdown;
pub use render::Format;
pub use report::{Report, ReportAction, ReportFinding, Word, evidence_line};
pub use table::render as render_table;
pub use terminal::{is_unsafe_for_terminal, terminal_safe};
