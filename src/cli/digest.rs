//! `perfsage digest FILE`: a slow query log, grouped by statement class.

use anyhow::Context;
use std::path::PathBuf;

use clap::Args;

use super::args::ActionFormat;
use super::commands::write_stdout;
use super::exit::{Exit, Failure};
use crate::pack::RulePack;
use perfsage_sources::digest::digest_file;

#[derive(Debug, Args)]
pub(super) struct DigestArgs {
    /// A MySQL/MariaDB slow query log (`slow_query_log_file`) or a PostgreSQL
    /// log written with `log_min_duration_statement`; the kind is detected.
    #[arg(value_name = "FILE")]
    file: PathBuf,
    /// Rule pack whose [slow_log] settings (max_classes, max_statement_bytes) apply.
    #[arg(long, short = 'c', value_name = "FILE")]
    config: Option<PathBuf>,
    /// Statement classes kept (the first ones seen); the entries of the others are counted in
    /// one `(other)` class. Overrides [slow_log] max_classes (default 10000).
    #[arg(long, value_name = "N")]
    max_classes: Option<usize>,
    #[arg(long, value_enum, default_value_t = ActionFormat::Text)]
    format: ActionFormat,
}

pub fn run(args: DigestArgs) -> Result<Exit, Failure> {
    let pack = RulePack::load(args.config.as_deref()).map_err(Failure::usage)?;
    let mut settings = pack.slow_log.clone();
    if let Some(max_classes) = args.max_classes {
        settings.max_classes = max_classes;
    }
    std::fs::File::open(&args.file)
        .with_context(|| format!("cannot open the slow log {}", args.file.display()))
        .map_err(Failure::usage)?;
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let digest = digest_file(&args.file, threads, &settings)
        .with_context(|| format!("cannot read the slow log {}", args.file.display()))
        .map_err(Failure::degraded)?;
    for warning in digest.corrupt_warning(&args.file).into_iter().chain(digest.limit_warnings(&args.file)) {
        log::warn!("{warning}");
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
                "{table}\n{} entries, {} classes, {} corrupt, {} truncated, {} folded into {}\n",
                digest.entries,
                digest.classes.len(),
                digest.corrupt,
                digest.truncated,
                digest.folded,
                perfsage_sources::digest::OTHER_CLASS
            )
        }
    };
    write_stdout(&text)?;
    Ok(Exit::Clean)
}
