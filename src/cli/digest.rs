//! `perfsage digest FILE`: a slow query log, grouped by statement class.

use anyhow::Context;

use super::commands::write_stdout;
use super::{ActionFormat, DigestArgs, Exit, Failure};
use crate::pack::RulePack;
use perfsage_sources::digest::digest_file;

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
