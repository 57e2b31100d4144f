//! Why a plugin failed: one variant per way a plugin can misbehave, each with
//! a message an operator can act on.

use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PluginError {
    #[error("cannot read {path}: {reason}")]
    Unreadable { path: PathBuf, reason: String },

    #[error("not a WebAssembly component: {0}")]
    NotAComponent(String),

    #[error(
        "incompatible contract: the plugin was built against perfsage:rule@{found}, \
         this perfsage speaks perfsage:rule@{supported}; rebuild the plugin with a matching SDK"
    )]
    IncompatibleContract { found: String, supported: String },

    #[error("not a perfsage rule plugin: it exports no perfsage:rule/rule interface (exports: {0})")]
    NotARulePlugin(String),

    #[error("cannot instantiate: {0}")]
    Instantiate(String),

    #[error("exceeded its deadline of {} ms and was stopped", .0.as_millis())]
    DeadlineExceeded(Duration),

    #[error(
        "exceeded its memory cap of {} MiB (all its memories and tables together) and was stopped",
        .0 / (1024 * 1024)
    )]
    MemoryExceeded(usize),

    #[error("exceeded a sandbox limit and was stopped: {0}")]
    SandboxLimit(String),

    #[error("flooded the host log (more than {calls} messages or {} KiB in one call) and was stopped", .bytes / 1024)]
    LogFlood { calls: usize, bytes: usize },

    #[error("trapped: {reason}{}", describe_log(.log))]
    Trapped { reason: String, log: Vec<String> },

    #[error("returned an invalid result: {0}")]
    InvalidOutput(String),

    #[error("reported an error: {0}")]
    RuleError(String),

    #[error(
        "refused: its content changed since it was pinned in {} (pinned sha256 {pinned}, now {found}); \
         if the change is intended, run `perfsage plugin pin` again",
        lock.display()
    )]
    PinMismatch { lock: PathBuf, pinned: String, found: String },

    #[error("refused: it is not pinned in {}; run `perfsage plugin pin` to pin it", lock.display())]
    Unpinned { lock: PathBuf },

    #[error("describes itself as `{name}`, which another loaded plugin already uses ({other})")]
    DuplicateName { name: String, other: String },
}

/// Plugins send panic messages through the host's `log`; show the last one.
fn describe_log(log: &[String]) -> String {
    match log.last() {
        Some(message) => format!(" (plugin said: {message})"),
        None => String::new(),
    }
}
