//! Pinning external plugins: a lock file records the SHA-256 of each plugin
//! file, and a plugin whose bytes no longer match is refused before any of its
//! code runs, until it is pinned again.
//!
//! The lock file (`perfsage.lock`, TOML) lives beside the rule pack: `--lock
//! FILE` names it, otherwise it is `perfsage.lock` in the directory of
//! `--config`. With neither (the embedded default pack), nothing is enforced.
//! When a lock file is in force, every external plugin must be pinned in it;
//! built-in plugins are part of the binary and need no pin.
//!
//! Plugins are keyed by path: relative to the lock file's directory when the
//! plugin lies beneath it (so a rule pack, its plugins and its lock can move
//! together), absolute otherwise.
//!
//! ```toml
//! version = 1
//!
//! [plugins]
//! "plugins/queue.wasm" = "3f2a…"
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::runtime::PluginError;
use crate::runtime::cache::sha256_hex;

/// The lock file's name beside a rule pack.
pub const LOCK_FILE_NAME: &str = "perfsage.lock";

const LOCK_VERSION: u32 = 1;

const HEADER: &str = "# Written by `perfsage plugin pin`: the SHA-256 of each external plugin.\n\
                      # A plugin whose bytes differ is refused until it is pinned again.\n";

#[derive(Debug, thiserror::Error)]
pub enum PinError {
    #[error("cannot read the lock file {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("{path} is not a valid perfsage lock file: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("{path} has lock file version {found}; this perfsage reads version {LOCK_VERSION}")]
    Version { path: PathBuf, found: u32 },
    #[error("cannot write the lock file {path}: {source}")]
    Write { path: PathBuf, source: std::io::Error },
    #[error("cannot pin {path}: {source}")]
    Plugin { path: PathBuf, source: std::io::Error },
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct LockContents {
    version: u32,
    #[serde(default)]
    plugins: BTreeMap<String, String>,
}

/// A lock file: where it is and the pins it holds.
#[derive(Debug, Clone)]
pub struct Lock {
    path: PathBuf,
    pins: BTreeMap<String, String>,
}

/// What pinning did to one plugin.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PinChange {
    New,
    Updated,
    Unchanged,
}

/// Where the lock file is: `--lock`, else beside `--config`, else none.
pub fn lock_path(lock: Option<&Path>, rule_pack: Option<&Path>) -> Option<PathBuf> {
    lock.map(Path::to_path_buf)
        .or_else(|| rule_pack.map(|pack| pack.parent().unwrap_or(Path::new("")).join(LOCK_FILE_NAME)))
}

impl Lock {
    /// Read the lock file at `path`; `None` when there is no such file.
    pub fn read(path: &Path) -> Result<Option<Self>, PinError> {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => return Err(PinError::Read { path: path.into(), source }),
        };
        let contents: LockContents =
            toml::from_str(&text).map_err(|e| PinError::Parse { path: path.into(), message: e.to_string() })?;
        if contents.version != LOCK_VERSION {
            return Err(PinError::Version { path: path.into(), found: contents.version });
        }
        Ok(Some(Lock { path: path.into(), pins: contents.plugins }))
    }

    /// The lock file at `path`, or an empty one to be written there.
    pub fn read_or_new(path: &Path) -> Result<Self, PinError> {
        Ok(Self::read(path)?.unwrap_or_else(|| Lock { path: path.into(), pins: BTreeMap::new() }))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Refuse `bytes` read from `plugin` unless they are what was pinned.
    pub fn verify(&self, plugin: &Path, bytes: &[u8]) -> Result<(), PluginError> {
        let key = self.key(plugin);
        let found = sha256_hex(bytes);
        match self.pins.get(&key) {
            None => Err(PluginError::Unpinned { lock: self.path.clone() }),
            Some(pinned) if *pinned != found => {
                Err(PluginError::PinMismatch { lock: self.path.clone(), pinned: pinned.clone(), found })
            }
            Some(_) => Ok(()),
        }
    }

    /// Record the current SHA-256 of the plugin file at `plugin`.
    pub fn pin(&mut self, plugin: &Path) -> Result<(PinChange, String), PinError> {
        let bytes = std::fs::read(plugin).map_err(|source| PinError::Plugin { path: plugin.into(), source })?;
        let sha256 = sha256_hex(&bytes);
        let change = match self.pins.insert(self.key(plugin), sha256.clone()) {
            None => PinChange::New,
            Some(old) if old != sha256 => PinChange::Updated,
            Some(_) => PinChange::Unchanged,
        };
        Ok((change, sha256))
    }

    /// Write the lock file atomically (see `perfsage_private::write_atomic`).
    pub fn save(&self) -> Result<(), PinError> {
        let contents = LockContents { version: LOCK_VERSION, plugins: self.pins.clone() };
        let text = format!("{HEADER}{}", toml::to_string(&contents).expect("a lock file serializes"));
        perfsage_private::write_atomic(&self.path, text.as_bytes(), perfsage_private::Readers::Private)
            .map_err(|source| PinError::Write { path: self.path.clone(), source })
    }

    /// The key of a plugin path: relative to the lock's directory when beneath it.
    fn key(&self, plugin: &Path) -> String {
        let absolute =
            |p: &Path| std::fs::canonicalize(p).unwrap_or_else(|_| std::path::absolute(p).unwrap_or(p.into()));
        let plugin = absolute(plugin);
        let dir = absolute(self.path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new(".")));
        plugin.strip_prefix(&dir).unwrap_or(&plugin).to_string_lossy().into_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pinned_bytes_pass_changed_or_unpinned_bytes_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let plugin = dir.path().join("plugins/rule.wasm");
        std::fs::create_dir_all(plugin.parent().unwrap()).unwrap();
        std::fs::write(&plugin, b"first").unwrap();
        let lock_file = dir.path().join(LOCK_FILE_NAME);

        let mut lock = Lock::read_or_new(&lock_file).unwrap();
        assert_eq!(lock.pin(&plugin).unwrap().0, PinChange::New);
        lock.save().unwrap();
        let text = std::fs::read_to_string(&lock_file).unwrap();
        assert!(text.contains("\"plugins/rule.wasm\" = "), "keyed relative to the lock: {text}");

        let lock = Lock::read(&lock_file).unwrap().unwrap();
        assert_eq!(lock.verify(&plugin, b"first"), Ok(()));
        let refused = lock.verify(&plugin, b"second").unwrap_err();
        assert!(matches!(refused, PluginError::PinMismatch { .. }), "{refused}");
        let other = dir.path().join("other.wasm");
        assert!(matches!(lock.verify(&other, b"first"), Err(PluginError::Unpinned { .. })));

        std::fs::write(&plugin, b"second").unwrap();
        let mut lock = lock;
        assert_eq!(lock.pin(&plugin).unwrap().0, PinChange::Updated);
        assert_eq!(lock.verify(&plugin, b"second"), Ok(()));
        assert_eq!(lock.pin(&plugin).unwrap().0, PinChange::Unchanged);
    }

    #[test]
    fn a_missing_lock_is_none_and_a_corrupt_one_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(LOCK_FILE_NAME);
        assert!(Lock::read(&path).unwrap().is_none());
        std::fs::write(&path, "version = 1\n[plugins]\n\"a.wasm\" = 3\n").unwrap();
        assert!(matches!(Lock::read(&path), Err(PinError::Parse { .. })));
        std::fs::write(&path, "version = 9\n").unwrap();
        assert!(matches!(Lock::read(&path), Err(PinError::Version { found: 9, .. })));
    }

    #[test]
    fn the_lock_sits_beside_the_rule_pack_unless_named() {
        assert_eq!(lock_path(None, None), None);
        assert_eq!(lock_path(None, Some(Path::new("etc/pack.toml"))), Some(PathBuf::from("etc/perfsage.lock")));
        assert_eq!(lock_path(None, Some(Path::new("pack.toml"))), Some(PathBuf::from("perfsage.lock")));
        assert_eq!(
            lock_path(Some(Path::new("/x/my.lock")), Some(Path::new("etc/pack.toml"))),
            Some(PathBuf::from("/x/my.lock"))
        );
    }
}
