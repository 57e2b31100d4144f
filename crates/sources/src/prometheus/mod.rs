//! Prometheus as a source: `/metrics` expositions and the query API.
//!
//! - [`exposition`]: the text format and OpenMetrics parser (total: errors
//!   with line numbers, never a panic);
//! - [`scrape`]: `run --scrape` / `--scrape-host`: two readings of an
//!   exposition a window apart become endpoints ([`endpoints`]) and, for a
//!   node_exporter asked for, host sections ([`node`]);
//! - [`api`]: instant and range queries against a Prometheus server;
//! - [`fleet`]: `perfsage fleet`: one snapshot per instance from PromQL that
//!   aggregates by instance on the server;
//! - [`settings`]: the rule pack's `[prometheus]` section, the one place
//!   where metric names and PromQL meet snapshot fields;
//! - [`http`]: the small hyper client both paths share.

pub mod api;
pub mod endpoints;
pub mod exposition;
pub mod fleet;
pub mod http;
pub mod node;
pub mod scrape;
pub mod settings;

pub use settings::PrometheusSettings;
