//! One report in the format asked for.

use crate::report::Report;
use crate::{json, markdown, table};

/// Output formats of `run` and `check`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Table,
    Json,
    Markdown,
}

impl Report {
    /// The report as text: table (colored when `color`), JSON or Markdown.
    /// Table and Markdown draw the escaped copy, so nothing a plugin wrote
    /// reaches a terminal raw.
    pub fn render(&self, format: Format, color: bool) -> String {
        match format {
            Format::Table => table::render(&self.terminal_safe(), color),
            Format::Json => json::render(self),
            Format::Markdown => markdown::render(&self.terminal_safe()),
        }
    }
}
