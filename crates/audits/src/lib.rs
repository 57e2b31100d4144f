//! Audits: a check that is remembered. One audit gets a snapshot (collected
//! by the sources, or replayed from a file), checks it, stores the report in
//! the [`history`], and compares it with the previous audit of the same
//! target ([`diff`]). Exports ([`html`], [`prometheus`], JSON) render a
//! stored audit; [`service`] repeats audits on a schedule.
//!
//! The audit flow knows sources only through [`SnapshotOrigin`]: a new source
//! plugs in by filling its sections in [`perfsage_sources::collect`]. A
//! collection that fails as a whole is recorded as a failed audit; an
//! optional source that fails or times out (a database server that stalls)
//! makes the audit `degraded`, with the source's failure as its error; either
//! way the next audit still runs. Checking is passed in as a closure, so this module does not care
//! how plugins were loaded.
//!
//! Concurrency: one audit process per state directory at a time, enforced by
//! an exclusive lock on `audit.lock` ([`AuditLock`]); readers (`history`,
//! `report`) need no lock (SQLite's WAL lets them read while an audit writes).

mod audit;
pub mod diff;
mod exports;
pub mod history;
pub mod html;
pub mod prometheus;
pub mod service;
mod view;

pub use audit::{AuditError, AuditLock, AuditOutcome, SnapshotOrigin, SourceError, audit, prune};
pub use exports::Exports;
pub use perfsage_private::default_state_dir;
pub use view::{AuditView, TREND_AUDITS, audit_json};
