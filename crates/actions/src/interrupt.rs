//! SIGINT and SIGTERM during `apply`: noted, not obeyed at once.
//!
//! A hook runs in a process group of its own, so a Ctrl-C at the terminal
//! (which signals the terminal's foreground group) or a `systemctl stop`
//! (which signals perfsage) never reaches it by itself. Dying on the spot
//! would orphan a hook halfway through a change, with its `finished` record
//! never written. So while `apply` runs, [`install`] replaces the default
//! action of both signals with a handler that only records them; the runner
//! polls [`pending`] while it waits for a hook, forwards the signal to the
//! hook's group, and ends the group itself (see `runner`); the apply loop
//! checks [`pending`] before every command and stops there.
//!
//! The handler stores into atomics and nothing else: that is all a signal
//! handler may safely do.

use std::sync::atomic::{AtomicI32, AtomicU32, Ordering};

/// The last signal received (0: none).
static SIGNAL: AtomicI32 = AtomicI32::new(0);
/// How many signals were received: a second one cuts the grace period short.
static COUNT: AtomicU32 = AtomicU32::new(0);

extern "C" fn record(signal: libc::c_int) {
    SIGNAL.store(signal, Ordering::SeqCst);
    COUNT.fetch_add(1, Ordering::SeqCst);
}

/// Catch SIGINT and SIGTERM from now on (for the rest of the process).
pub fn install() -> std::io::Result<()> {
    for signal in [libc::SIGINT, libc::SIGTERM] {
        // SAFETY: a zeroed sigaction is a valid starting value; `record` is an
        // extern "C" fn that only touches atomics (async-signal-safe). SA_RESTART
        // keeps the journal's writes and the runner's waits from seeing EINTR.
        let result = unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = record as extern "C" fn(libc::c_int) as libc::sighandler_t;
            action.sa_flags = libc::SA_RESTART;
            libc::sigemptyset(&mut action.sa_mask);
            libc::sigaction(signal, &action, std::ptr::null_mut())
        };
        if result != 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}

/// The signal that asked `apply` to stop, if any.
pub fn pending() -> Option<i32> {
    match SIGNAL.load(Ordering::SeqCst) {
        0 => None,
        signal => Some(signal),
    }
}

/// How many signals arrived so far.
pub fn count() -> u32 {
    COUNT.load(Ordering::SeqCst)
}
