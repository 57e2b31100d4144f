//! A plugin before loading: its bytes and where they came from.

use std::fmt;
use std::path::PathBuf;

use super::error::PluginError;

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

    /// The embedded built-in plugins (`perfsage_builtin::PLUGINS`), in the
    /// order given.
    pub fn builtins(plugins: &[(&str, &'static [u8])]) -> Vec<PluginSource> {
        plugins
            .iter()
            .map(|(name, bytes)| PluginSource {
                label: (*name).to_string(),
                origin: Origin::Builtin,
                bytes: (*bytes).into(),
            })
            .collect()
    }
}
