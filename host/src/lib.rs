//! perfsage: a performance optimization advisor for web platforms.
//!
//! The flow, one module per arrow (see ARCHITECTURE.md):
//!
//! ```text
//! sources ──> Snapshot ──> plugins (Wasm sandbox) ──> check ──> ranking ──> reports
//! ```
//!
//! - [`sources`]: collectors, the doors to the outside world;
//! - [`model`]: the normalized model, generated from `wit/rule.wit`;
//! - [`snapshot`]: saving and replaying snapshots;
//! - [`plugins`]: the Wasm runtime, the only door into plugins;
//! - [`rulepack`]: which plugins run, with which parameters and limits;
//! - [`pins`]: the lock file that pins external plugins by SHA-256;
//! - [`check`]: runs the plugins over a snapshot;
//! - [`cases`]: rule test cases (fixture snapshot in, expected findings out);
//! - [`scaffold`]: `perfsage plugin new`, a rule plugin crate ready to build;
//! - [`ranking`]: orders findings and actions (pure);
//! - [`reports`]: renders the ranked result (pure);
//! - [`private`]: perfsage's own directories (0700) and files (0600);
//! - [`actions`]: plans, dry-runs and applies actions through rule-pack hooks;
//! - [`audits`]: audits with history (SQLite), diffs, exports and a service mode;
//! - [`digest`]: slow query logs grouped by statement class;
//! - [`cli`]: the command line.

pub mod actions;
pub mod audits;
pub mod cases;
pub mod check;
pub mod cli;
pub mod digest;
pub mod model;
pub mod pins;
pub mod plugins;
pub mod private;
pub mod ranking;
pub mod reports;
pub mod rulepack;
pub mod scaffold;
pub mod snapshot;
pub mod sources;
