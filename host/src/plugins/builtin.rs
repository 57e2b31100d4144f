//! The built-in plugins, compiled from `plugins/` by `host/build.rs` and
//! embedded in the binary.

use super::{Origin, PluginSource};

include!(concat!(env!("OUT_DIR"), "/builtin_plugins.rs"));

/// Every built-in plugin, in name order.
pub fn builtin_plugins() -> Vec<PluginSource> {
    BUILTIN_PLUGINS
        .iter()
        .map(|(name, bytes)| PluginSource {
            label: (*name).to_string(),
            origin: Origin::Builtin,
            bytes: (*bytes).into(),
        })
        .collect()
}
