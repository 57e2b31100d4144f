//! What a plugin may use: nothing but a deadline, a memory cap and a bounded
//! log line back to the host.
//!
//! - Deadline: the engine counts epochs on a ticker thread ([`EpochTicker`]);
//!   each store gets a deadline in ticks, and wasmtime interrupts the guest
//!   with `Trap::Interrupt` when it passes, even inside an endless loop.
//! - Memory: [`PluginState`] is the store's `ResourceLimiter`; a `memory.grow`
//!   past the cap is refused and remembered, so the resulting trap (the guest's
//!   allocator aborts) is reported as "exceeded its memory cap".
//! - Log: the one import the host implements; it keeps a few short messages
//!   (the SDK sends panic messages there) and drops the rest.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use wasmtime::{Engine, ResourceLimiter};

use crate::model::PluginHost;

/// Caps for one plugin call.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limits {
    /// Wall-clock time for one instantiate + call.
    pub deadline: Duration,
    /// Linear memory a plugin may grow to.
    pub memory_bytes: usize,
    /// Findings one check may return.
    pub max_findings: usize,
    /// Bytes in any one string a plugin returns.
    pub max_string_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            deadline: Duration::from_millis(250),
            memory_bytes: 64 * 1024 * 1024,
            max_findings: 256,
            max_string_bytes: 4096,
        }
    }
}

/// How often the epoch advances; deadlines are rounded up to whole ticks.
pub const EPOCH_TICK: Duration = Duration::from_millis(5);

/// Deadline in epoch ticks (at least one).
pub fn deadline_ticks(deadline: Duration) -> u64 {
    (deadline.as_micros().div_ceil(EPOCH_TICK.as_micros()) as u64).max(1)
}

const MAX_LOG_MESSAGES: usize = 8;
const MAX_LOG_MESSAGE_BYTES: usize = 1024;

/// The data of one store: limits and what the plugin logged.
pub struct PluginState {
    memory_cap: usize,
    /// Set when a `memory.grow` was refused, to name the cause of the trap that follows.
    pub(crate) memory_refused: bool,
    pub(crate) log: Vec<String>,
}

impl PluginState {
    pub fn new(limits: &Limits) -> Self {
        PluginState { memory_cap: limits.memory_bytes, memory_refused: false, log: Vec::new() }
    }
}

impl ResourceLimiter for PluginState {
    fn memory_growing(&mut self, _current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        if desired > self.memory_cap {
            self.memory_refused = true;
            return Ok(false);
        }
        Ok(true)
    }

    fn table_growing(&mut self, _current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        // Tables hold function references; a rule needs a few thousand at most.
        Ok(desired <= 100_000)
    }

    fn instances(&self) -> usize {
        // A Rust component is a handful of core instances.
        64
    }

    fn memories(&self) -> usize {
        4
    }

    fn tables(&self) -> usize {
        16
    }
}

impl PluginHost for PluginState {
    fn log(&mut self, message: String) {
        if self.log.len() >= MAX_LOG_MESSAGES {
            return;
        }
        let mut message = message;
        if message.len() > MAX_LOG_MESSAGE_BYTES {
            let mut cut = MAX_LOG_MESSAGE_BYTES;
            while !message.is_char_boundary(cut) {
                cut -= 1;
            }
            message.truncate(cut);
            message.push('…');
        }
        self.log.push(message);
    }
}

/// Advances the engine's epoch every [`EPOCH_TICK`] until dropped.
pub struct EpochTicker {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl EpochTicker {
    pub fn start(engine: &Engine) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let engine = engine.clone();
        let flag = stop.clone();
        let thread = std::thread::Builder::new()
            .name("perfsage-epoch".into())
            .spawn(move || {
                while !flag.load(Ordering::Relaxed) {
                    std::thread::sleep(EPOCH_TICK);
                    engine.increment_epoch();
                }
            })
            .expect("cannot start the epoch ticker thread");
        EpochTicker { stop, thread: Some(thread) }
    }
}

impl Drop for EpochTicker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deadline_rounds_up_to_whole_ticks() {
        assert_eq!(deadline_ticks(Duration::from_millis(250)), 50);
        assert_eq!(deadline_ticks(Duration::from_millis(1)), 1);
        assert_eq!(deadline_ticks(Duration::ZERO), 1);
    }

    #[test]
    fn log_is_bounded() {
        let mut state = PluginState::new(&Limits::default());
        for _ in 0..20 {
            state.log("é".repeat(2000));
        }
        assert_eq!(state.log.len(), MAX_LOG_MESSAGES);
        assert!(state.log[0].len() <= MAX_LOG_MESSAGE_BYTES + '…'.len_utf8());
    }

    #[test]
    fn memory_past_the_cap_is_refused_and_remembered() {
        let limits = Limits { memory_bytes: 1 << 20, ..Limits::default() };
        let mut state = PluginState::new(&limits);
        assert!(state.memory_growing(0, 1 << 19, None).unwrap());
        assert!(!state.memory_refused);
        assert!(!state.memory_growing(1 << 19, 2 << 20, None).unwrap());
        assert!(state.memory_refused);
    }
}
