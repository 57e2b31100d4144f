//! The plugin engine: the only door into WebAssembly, and everything that
//! decides which plugin runs on what.
//!
//! ```text
//! PluginSelection ──> Engine::load ──> Engine::check(snapshot) ──> CheckResult
//!   (built-ins,         (runtime: sandbox,     (check: sections gate,
//!    files, pins)        cache; plans)          overrides, ranking)
//! ```
//!
//! - [`runtime`]: the Wasm runtime: one `wasmtime::Engine` and linker, a
//!   fresh store per call under a deadline and a memory budget, the compile
//!   cache, output caps;
//! - [`plans`]: the rule pack's `[runtime]` and `[plugins.*]`, resolved
//!   against what each plugin declares;
//! - `check`: one snapshot through every planned plugin (behind [`Engine::check`]);
//! - [`engine`]: the façade that does the sequence once ([`Engine`]);
//! - [`pins`]: the lock file that pins external plugins by SHA-256;
//! - [`cases`]: rule test cases (fixture in, expected findings out).
//!
//! Invariant: nothing here does I/O beyond reading plugin files, the lock
//! file and case fixtures, and the compile cache in its private directory.

pub mod cases;
mod check;
pub mod engine;
pub mod pins;
pub mod plans;
pub mod runtime;

pub use engine::{Engine, EngineError, PluginSelection};
