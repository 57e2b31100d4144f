//! The built-in rule plugins (`plugins/*`, except the SDK), compiled for
//! `wasm32-wasip2` by `build.rs` and embedded, so one `perfsage` binary works
//! anywhere.
//!
//! A crate of its own so that editing a rule rebuilds only this crate and
//! relinks what embeds it: the engine takes the bytes as data
//! (`PluginSource::builtins(perfsage_builtin::PLUGINS)`) and never depends
//! on them.

include!(concat!(env!("OUT_DIR"), "/builtin_plugins.rs"));
