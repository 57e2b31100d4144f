//! The plugin runtime: the only door into WebAssembly.
//!
//! A rule plugin is a Wasm component exporting `perfsage:rule/rule` (see
//! `wit/rule.wit`). The runtime keeps one [`wasmtime::Engine`] and one
//! `Linker` per process, an `InstancePre` per loaded plugin, and creates a
//! fresh `Store` for every call, so nothing a plugin allocates outlives the
//! call and no state leaks between checks.
//!
//! The sandbox ([`sandbox`]) grants nothing: every import but the host's
//! bounded `log` is bound to a trap, each call runs under a wall-clock
//! deadline (epoch interruption) and a memory budget for all its memories and
//! tables together, with capped counts of instances, memories and tables, and what a plugin
//! returns is checked against size caps ([`validate`]) before the host uses
//! it. Any failure becomes a [`PluginError`] for that plugin only.
//!
//! Compiled code is cached on disk ([`cache`]), keyed by the engine's
//! compatibility hash and the plugin's SHA-256, so a warm start deserializes
//! instead of compiling; an entry is deserialized only after its owner, mode,
//! file type and digest are checked.

mod builtin;
pub mod cache;
mod error;
mod runtime;
pub mod sandbox;
mod validate;

pub use builtin::builtin_plugins;
pub use error::PluginError;
pub use runtime::{CheckOutcome, LoadFailure, LoadedPlugin, Runtime};
pub use sandbox::Limits;

use std::fmt;
use std::path::PathBuf;

/// Where a plugin came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// Compiled from `plugins/` and embedded in the binary.
    Builtin,
    /// Loaded from a file given with `--plugin` or found by `--plugins-dir`.
    Path(PathBuf),
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::Builtin => f.write_str("built-in"),
            Origin::Path(path) => write!(f, "{}", path.display()),
        }
    }
}

/// A plugin's bytes and where they came from, before loading.
#[derive(Debug, Clone)]
pub struct PluginSource {
    /// A name to report if loading fails before the plugin can describe itself.
    pub label: String,
    pub origin: Origin,
    pub bytes: std::sync::Arc<[u8]>,
}

impl PluginSource {
    /// Read a plugin file. An unreadable file is reported like any broken plugin.
    pub fn from_path(path: &std::path::Path) -> Result<Self, (String, PluginError)> {
        let label =
            path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| path.display().to_string());
        let bytes = std::fs::read(path).map_err(|e| {
            (label.clone(), PluginError::Unreadable { path: path.to_path_buf(), reason: e.to_string() })
        })?;
        Ok(PluginSource { label, origin: Origin::Path(path.to_path_buf()), bytes: bytes.into() })
    }
}
