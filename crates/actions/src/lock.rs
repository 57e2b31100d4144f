//! One `apply` at a time: an advisory lock (flock) on `<state>/apply.lock`.
//!
//! The kernel drops the lock when the last descriptor on the locked open file
//! closes, however its holders exit, so a crashed apply never leaves a stale
//! lock behind. The holder writes its pid into the file, and the runner lets
//! each hook inherit the descriptor (see `runner::Guard`): the lock outlives a
//! SIGKILLed perfsage for as long as its hook's processes live, so a second
//! apply never runs a hook beside an orphaned one. A refused apply names every
//! process that still holds the lock (found through `/proc/*/fd`).

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, Write};
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error("another `perfsage apply` is running (lock {path}, held by {holder}); wait for it to finish")]
    Held { path: PathBuf, holder: String },
    #[error("cannot take the apply lock {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
}

/// The held lock; released on drop (once the hooks that inherited it have exited too).
#[derive(Debug)]
pub struct ApplyLock {
    file: File,
}

impl ApplyLock {
    /// Take the lock in `state_dir`, or fail at once if another process holds it.
    pub fn acquire(state_dir: &Path) -> Result<Self, LockError> {
        let path = state_dir.join("apply.lock");
        let io = |source| LockError::Io { path: path.clone(), source };
        let mut file =
            perfsage_private::open_file(&path, OpenOptions::new().create(true).truncate(false).read(true).write(true))
                .map_err(io)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                let mut pid = String::new();
                let _ = file.read_to_string(&mut pid);
                let holder = describe_holders(pid.trim(), &holders(&file));
                return Err(LockError::Held { path, holder });
            }
            Err(TryLockError::Error(e)) => return Err(io(e)),
        }
        file.set_len(0).and_then(|_| file.rewind()).and_then(|_| write!(file, "{}", std::process::id())).map_err(io)?;
        Ok(ApplyLock { file })
    }

    /// The locked descriptor, for hooks to inherit.
    pub fn fd(&self) -> RawFd {
        self.file.as_raw_fd()
    }
}

/// Other processes with the lock file open, as `pid (command)`, by pid.
fn holders(file: &File) -> Vec<(u32, String)> {
    let Ok(meta) = file.metadata() else { return Vec::new() };
    let (dev, ino) = (meta.dev(), meta.ino());
    let me = std::process::id();
    let Ok(entries) = std::fs::read_dir("/proc") else { return Vec::new() };
    let mut found: Vec<(u32, String)> = entries
        .flatten()
        .filter_map(|entry| entry.file_name().to_str()?.parse::<u32>().ok())
        .filter(|&pid| pid != me)
        .filter(|pid| {
            let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) else { return false };
            fds.flatten().any(|fd| std::fs::metadata(fd.path()).is_ok_and(|m| m.dev() == dev && m.ino() == ino))
        })
        .map(|pid| {
            let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
            (pid, comm.trim().to_string())
        })
        .collect();
    found.sort();
    found
}

/// Who holds the lock: the pid the holder wrote, and every process seen holding it.
fn describe_holders(written: &str, seen: &[(u32, String)]) -> String {
    let listed: Vec<String> = seen.iter().map(|(pid, comm)| format!("pid {pid} ({comm})")).collect();
    let writer_seen = seen.iter().any(|(pid, _)| pid.to_string() == written);
    match (written, listed.is_empty()) {
        ("", true) => "an unknown process".into(),
        (pid, true) => format!("pid {pid}"),
        ("", false) => listed.join(", "),
        (_, false) if writer_seen => listed.join(", "),
        (pid, false) => {
            format!("{}: the hooks of apply pid {pid}, which is gone; they keep it until they exit", listed.join(", "))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_holder_is_refused_until_the_first_lets_go() {
        let dir = tempfile::tempdir().unwrap();
        let first = ApplyLock::acquire(dir.path()).unwrap();
        let refused = ApplyLock::acquire(dir.path()).unwrap_err().to_string();
        assert!(refused.contains("another `perfsage apply` is running"), "{refused}");
        assert!(refused.contains(&format!("pid {}", std::process::id())), "{refused}");
        drop(first);
        // Another test thread that forks while `first` is open shares its
        // descriptor until that child execs (close-on-exec): wait for the
        // condition, not a clock.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while ApplyLock::acquire(dir.path()).is_err() {
            assert!(std::time::Instant::now() < deadline, "the lock stayed held after its holder let go");
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
    }

    #[test]
    fn holders_are_described_with_the_writer_first_known() {
        let seen = [(10, "slow.sh".to_string()), (11, "sleep".to_string())];
        assert_eq!(describe_holders("", &[]), "an unknown process");
        assert_eq!(describe_holders("7", &[]), "pid 7");
        assert_eq!(
            describe_holders("7", &seen),
            "pid 10 (slow.sh), pid 11 (sleep): the hooks of apply pid 7, which is gone; they keep it until they exit"
        );
        let with_writer = [(7, "perfsage".to_string()), (10, "slow.sh".to_string())];
        assert_eq!(describe_holders("7", &with_writer), "pid 7 (perfsage), pid 10 (slow.sh)");
    }
}
