//! What a plugin may use: nothing but a deadline, a memory budget, a few
//! instances, memories and tables, and a bounded log back to the host.
//!
//! - Deadline: the engine counts epochs on a ticker thread ([`EpochTicker`]);
//!   each store gets a deadline in ticks, and wasmtime interrupts the guest
//!   with `Trap::Interrupt` when it passes, even inside an endless loop.
//! - Memory: [`PluginState`] is the store's `ResourceLimiter`. Its budget is a
//!   total for the whole store (one call): every linear memory's size plus
//!   every table's elements (a pointer each, as wasmtime stores them), summed
//!   from creation on. A plugin cannot get around it with a second memory or
//!   a large table. A creation or `memory.grow` past the budget is refused
//!   and remembered, so the resulting trap (the guest's allocator aborts, or
//!   instantiation fails) is reported as "exceeded its memory cap". Growth
//!   the limiter permitted but wasmtime then failed stays counted: the budget
//!   errs on the side of refusing.
//! - Counts: core instances, linear memories and tables per store, and table
//!   elements in total, are capped ([`Limits`]); a component needing more is
//!   refused at instantiation with wasmtime's "resource limit exceeded".
//! - Log: the one import the host implements. It keeps a few short messages
//!   (the SDK sends panic messages there); past [`MAX_LOG_CALLS`] calls or
//!   [`MAX_LOG_BYTES`] bytes in one call the plugin is trapped, so a plugin
//!   cannot keep the host busy copying strings until its deadline.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use wasmtime::{Engine, ResourceLimiter};

use perfsage_model::world::PluginHost;

/// Caps for one plugin call (one store: instantiate + call).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limits {
    /// Wall-clock time for one instantiate + call.
    pub deadline: Duration,
    /// Bytes of all linear memories and tables of one call, together.
    pub memory_bytes: usize,
    /// Findings one check may return.
    pub max_findings: usize,
    /// Bytes in any one string a plugin returns.
    pub max_string_bytes: usize,
    /// Core instances one call may create (a Rust rule component uses a handful).
    pub max_instances: usize,
    /// Linear memories one call may create.
    pub max_memories: usize,
    /// Tables one call may create.
    pub max_tables: usize,
    /// Table elements of all tables of one call, together.
    pub max_table_elements: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            deadline: Duration::from_millis(250),
            memory_bytes: 64 * 1024 * 1024,
            max_findings: 256,
            max_string_bytes: 4096,
            max_instances: 32,
            max_memories: 4,
            max_tables: 16,
            max_table_elements: 100_000,
        }
    }
}

/// How often the epoch advances; deadlines are rounded up to whole ticks.
pub const EPOCH_TICK: Duration = Duration::from_millis(5);

/// Deadline in epoch ticks (at least one).
pub fn deadline_ticks(deadline: Duration) -> u64 {
    (deadline.as_micros().div_ceil(EPOCH_TICK.as_micros()) as u64).max(1)
}

/// Log messages kept per call, and the bytes kept of each.
const MAX_LOG_MESSAGES: usize = 8;
const MAX_LOG_MESSAGE_BYTES: usize = 1024;
/// `log` calls allowed per call; one more traps the plugin.
pub const MAX_LOG_CALLS: usize = 1000;
/// Bytes of log messages (before truncation) allowed per call; more traps the plugin.
pub const MAX_LOG_BYTES: usize = 1024 * 1024;

/// Bytes a table element is charged against the memory budget.
const TABLE_ELEMENT_BYTES: usize = std::mem::size_of::<usize>();

/// The data of one store: limits, what was used, and what the plugin logged.
pub struct PluginState {
    limits: Limits,
    /// Bytes of memories and tables granted so far in this store.
    pub(crate) used_bytes: usize,
    /// Table elements granted so far in this store.
    table_elements: usize,
    /// Set when a memory or table was refused for the memory budget, to name
    /// the cause of the trap that follows.
    pub(crate) memory_refused: bool,
    /// Set when tables were refused for their element cap.
    pub(crate) table_elements_refused: bool,
    /// Set when the plugin logged past the caps.
    pub(crate) log_refused: bool,
    log_calls: usize,
    log_bytes: usize,
    pub(crate) log: Vec<String>,
}

impl PluginState {
    pub fn new(limits: &Limits) -> Self {
        PluginState {
            limits: *limits,
            used_bytes: 0,
            table_elements: 0,
            memory_refused: false,
            table_elements_refused: false,
            log_refused: false,
            log_calls: 0,
            log_bytes: 0,
            log: Vec::new(),
        }
    }

    /// Charge `bytes` more against the budget, or refuse.
    fn charge(&mut self, bytes: usize) -> bool {
        match self.used_bytes.checked_add(bytes) {
            Some(total) if total <= self.limits.memory_bytes => {
                self.used_bytes = total;
                true
            }
            _ => {
                self.memory_refused = true;
                false
            }
        }
    }
}

impl ResourceLimiter for PluginState {
    // Called with `current` 0 when a memory is created, then for every
    // `memory.grow`: the sum of the deltas is the store's memory in bytes.
    fn memory_growing(&mut self, current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        Ok(self.charge(desired.saturating_sub(current)))
    }

    fn table_growing(&mut self, current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        let delta = desired.saturating_sub(current);
        match self.table_elements.checked_add(delta) {
            Some(total) if total <= self.limits.max_table_elements => {}
            _ => {
                self.table_elements_refused = true;
                return Ok(false);
            }
        }
        if !self.charge(delta.saturating_mul(TABLE_ELEMENT_BYTES)) {
            return Ok(false);
        }
        self.table_elements += delta;
        Ok(true)
    }

    fn instances(&self) -> usize {
        self.limits.max_instances
    }

    fn memories(&self) -> usize {
        self.limits.max_memories
    }

    fn tables(&self) -> usize {
        self.limits.max_tables
    }
}

impl PluginHost for PluginState {
    fn log(&mut self, message: String) -> wasmtime::Result<()> {
        self.log_calls += 1;
        self.log_bytes = self.log_bytes.saturating_add(message.len());
        if self.log_calls > MAX_LOG_CALLS || self.log_bytes > MAX_LOG_BYTES {
            self.log_refused = true;
            wasmtime::bail!(
                "flooded the host log: more than {MAX_LOG_CALLS} messages or {} KiB in one call",
                MAX_LOG_BYTES / 1024
            );
        }
        if self.log.len() >= MAX_LOG_MESSAGES {
            return Ok(());
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
        Ok(())
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
    fn log_keeps_a_few_short_messages_then_traps_a_flood() {
        let mut state = PluginState::new(&Limits::default());
        for _ in 0..20 {
            state.log("é".repeat(500)).unwrap();
        }
        assert_eq!(state.log.len(), MAX_LOG_MESSAGES);
        assert!(state.log[0].len() <= MAX_LOG_MESSAGE_BYTES + '…'.len_utf8());
        for _ in 20..MAX_LOG_CALLS {
            state.log("x".into()).unwrap();
        }
        let error = state.log("one too many".into()).unwrap_err().to_string();
        assert!(error.contains("flooded the host log"), "{error}");
        assert!(state.log_refused);

        let mut state = PluginState::new(&Limits::default());
        state.log("x".repeat(MAX_LOG_BYTES)).unwrap();
        assert!(state.log("y".into()).is_err(), "the byte cap counts what was sent, not what was kept");
    }

    #[test]
    fn memory_is_a_total_over_all_memories_and_tables() {
        let limits = Limits { memory_bytes: 1 << 20, ..Limits::default() };
        let mut state = PluginState::new(&limits);
        // Two memories created at 384 KiB each: 768 KiB of 1 MiB.
        assert!(state.memory_growing(0, 384 << 10, None).unwrap());
        assert!(state.memory_growing(0, 384 << 10, None).unwrap());
        assert!(!state.memory_refused);
        // Growing the first by 256 KiB would make 1 MiB + 0: allowed exactly.
        assert!(state.memory_growing(384 << 10, 640 << 10, None).unwrap());
        assert_eq!(state.used_bytes, 1 << 20);
        // Nothing is left, not even one table element.
        assert!(!state.table_growing(0, 1, None).unwrap());
        assert!(state.memory_refused);
    }

    #[test]
    fn tables_count_elements_and_bytes() {
        let limits = Limits { max_table_elements: 1000, ..Limits::default() };
        let mut state = PluginState::new(&limits);
        assert!(state.table_growing(0, 600, None).unwrap());
        assert!(!state.table_growing(0, 600, None).unwrap(), "1200 elements across two tables");
        assert!(state.table_elements_refused);
        assert!(!state.memory_refused);
        assert_eq!(state.used_bytes, 600 * TABLE_ELEMENT_BYTES);
    }
}
