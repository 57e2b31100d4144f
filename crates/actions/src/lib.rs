//! Actions: from ranked advice to changes on the machine, safely.
//!
//! ```text
//! ranked findings ──> plan (pure) ──> dry-run ──> apply ──> verify ──> rollback
//!                      │                            │
//!                      hooks (rule pack bindings)   journal (append-only, fsynced), lock
//! ```
//!
//! - [`hooks`]: what a hook name means (the rule pack's `[hooks.*]`), and the
//!   embedded scripts of the default pack;
//! - [`params`]: the typed parameters a binding declares, checked before any
//!   hook runs;
//! - [`plan`]: each ranked action as an exact argv and environment, or a manual
//!   step with the reason (pure);
//! - [`runner`]: runs one hook command: no shell, cleared environment, own
//!   process group, timeout. With the sources, the only door to the outside;
//! - [`journal`]: the append-only record of every hook run;
//! - [`lock`]: one apply at a time, held as long as any hook process lives;
//! - [`interrupt`]: SIGINT/SIGTERM during `apply`, recorded and forwarded to the hook;
//! - [`apply`]: the apply loop: journal, run, verify, roll back.
//!
//! A plugin never reaches a command: it names a hook and gives parameters;
//! the rule pack decides what runs, and the parameters arrive as data.

pub mod apply;
pub mod hooks;
pub mod interrupt;
pub mod journal;
pub mod lock;
pub mod params;
pub mod plan;
pub mod runner;

pub use perfsage_private::default_state_dir;
