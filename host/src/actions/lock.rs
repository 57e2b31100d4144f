//! One `apply` at a time: an advisory lock (flock) on `<state>/apply.lock`.
//!
//! The kernel drops the lock when the holder exits, however it exits, so a
//! crashed apply never leaves a stale lock behind. The holder writes its pid
//! into the file so a refused apply can say who holds it.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error("another `perfsage apply` is running{holder} (lock {path}); wait for it to finish")]
    Held { path: PathBuf, holder: String },
    #[error("cannot take the apply lock {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
}

/// The held lock; released on drop.
#[derive(Debug)]
pub struct ApplyLock {
    _file: File,
}

impl ApplyLock {
    /// Take the lock in `state_dir`, or fail at once if another process holds it.
    pub fn acquire(state_dir: &Path) -> Result<Self, LockError> {
        let path = state_dir.join("apply.lock");
        let io = |source| LockError::Io { path: path.clone(), source };
        let mut file =
            crate::private::open_file(&path, OpenOptions::new().create(true).truncate(false).read(true).write(true))
                .map_err(io)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                let mut pid = String::new();
                let _ = file.read_to_string(&mut pid);
                let holder = match pid.trim() {
                    "" => String::new(),
                    pid => format!(" (pid {pid})"),
                };
                return Err(LockError::Held { path, holder });
            }
            Err(TryLockError::Error(e)) => return Err(io(e)),
        }
        file.set_len(0).and_then(|_| file.rewind()).and_then(|_| write!(file, "{}", std::process::id())).map_err(io)?;
        Ok(ApplyLock { _file: file })
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
        assert!(ApplyLock::acquire(dir.path()).is_ok());
    }
}
