//! `perfsage digest FILE`: a slow query log, grouped by statement class.

use std::fs::File;
use std::io::BufReader;

use anyhow::Context;

use super::commands::write_stdout;
use super::{ActionFormat, DigestArgs, Exit, Failure};
use crate::digest::digest;

pub fn run(args: DigestArgs) -> Result<Exit, Failure> {
    let file = File::open(&args.file)
        .with_context(|| format!("cannot open the slow log {}", args.file.display()))
        .map_err(Failure::usage)?;
    let digest = digest(BufReader::new(file))
        .with_context(|| format!("cannot read the slow log {}", args.file.display()))
        .map_err(Failure::degraded)?;
    if digest.corrupt > 0 {
        log::warn!(
            "{}: {} of {} entries are corrupt (no readable Query_time or no statement) and were skipped",
            args.file.display(),
            digest.corrupt,
            digest.corrupt + digest.entries
        );
    }
    let text = match args.format {
        ActionFormat::Json => {
            let mut text = serde_json::to_string_pretty(&digest.classes).map_err(Failure::degraded)?;
            text.push('\n');
            text
        }
        ActionFormat::Text => {
            let mut builder = tabled::builder::Builder::default();
            builder.push_record([
                "Count",
                "Total ms",
                "Mean ms",
                "p95 ms",
                "Rows examined",
                "Rows sent",
                "Fingerprint",
            ]);
            for c in &digest.classes {
                builder.push_record([
                    c.count.to_string(),
                    format!("{:.1}", c.total_ms),
                    format!("{:.2}", c.mean_ms),
                    format!("{:.2}", c.p95_ms),
                    c.rows_examined.to_string(),
                    c.rows_sent.to_string(),
                    c.fingerprint.clone(),
                ]);
            }
            let mut table = builder.build();
            table.with(tabled::settings::Style::rounded());
            format!(
                "{table}\n{} entries, {} classes, {} corrupt\n",
                digest.entries,
                digest.classes.len(),
                digest.corrupt
            )
        }
    };
    write_stdout(&text)?;
    Ok(Exit::Clean)
}
