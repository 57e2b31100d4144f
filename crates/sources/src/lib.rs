//! Sources: the doors through which metrics come in.
//!
//! Each source fills the snapshot sections it knows. Sources are the only
//! code (with hooks) that touches the outside world; everything downstream of
//! the snapshot is pure. A source that fails is reported and the run goes on
//! with what the others collected.
//!
//! The system source is required (without it there is no snapshot); access
//! logs, database servers and scraped expositions are optional extras: one
//! that fails is listed in [`Collected::failures`], its sections stay absent,
//! and the command exits 3.
//!
//! `--scrape-host` swaps the required source: the host sections then come
//! from a node_exporter's exposition (the host it runs on, usually another
//! machine), the local system collector does not run, and failing to read
//! that exposition fails the collection.

//!
//! The modules, leaves first: [`histogram`] (latency summaries both request
//! sources share), [`system`], [`probe`], [`access_log`], [`digest`] (slow
//! query logs), [`database`] (what the two database sources share),
//! [`postgres`], [`mysql`], [`prometheus`]; [`collect`] drives them all.

pub mod access_log;
pub mod cause;
pub mod collect;
pub mod database;
pub mod digest;
pub mod histogram;
pub mod mysql;
pub mod postgres;
pub mod probe;
pub mod prometheus;
pub mod system;

pub use cause::error_chain;
pub use collect::{CollectError, CollectOptions, CollectSettings, Collected, collect};
pub use database::SourceSettings;
