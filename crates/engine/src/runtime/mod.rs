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

pub mod cache;
mod error;
mod plugins;
pub mod sandbox;
mod source;
mod validate;

pub use error::PluginError;
pub use plugins::{CheckOutcome, LoadFailure, LoadedPlugin, Runtime};
pub use sandbox::Limits;
pub use source::{Origin, PluginSource};
