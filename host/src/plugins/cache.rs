//! The on-disk cache of compiled plugins.
//!
//! Compiling a component takes tens of milliseconds; loading its serialized
//! form takes well under one. Entries live at
//! `<dir>/<engine>/<plugin-sha256>.cwasm`, where `<engine>` hashes the
//! engine's `precompile_compatibility_hash` (wasmtime version, target, and
//! every setting that changes code), so an artifact is only ever loaded by an
//! engine that could have written it. Entries are written to a temporary file
//! and renamed into place, so a reader never sees half an artifact.
//!
//! `Component::deserialize_file` is `unsafe` because it trusts the bytes: the
//! cache only loads files named after the SHA-256 of the plugin it compiled,
//! in a directory it created; a corrupt or foreign entry fails to deserialize
//! (wasmtime checks its header) and is recompiled and replaced.

use std::fs;
use std::hash::{Hash, Hasher};
use std::io::Write;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use wasmtime::Engine;
use wasmtime::component::Component;

/// Whether a component came from the cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheUse {
    Hit,
    Miss,
    Disabled,
}

/// A directory of compiled components for one engine configuration.
#[derive(Debug, Clone)]
pub struct CompileCache {
    dir: PathBuf,
}

impl CompileCache {
    /// The cache for `engine` under `root` (created lazily on first store).
    pub fn new(root: &Path, engine: &Engine) -> Self {
        let mut hasher = Sha256Hasher(Sha256::new());
        engine.precompile_compatibility_hash().hash(&mut hasher);
        let engine_key = hex(&hasher.0.finalize()[..8]);
        CompileCache { dir: root.join(engine_key) }
    }

    /// The default root: `$XDG_CACHE_HOME/perfsage` (or `~/.cache/perfsage`).
    pub fn default_root() -> Option<PathBuf> {
        dirs::cache_dir().map(|d| d.join("perfsage"))
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn entry(&self, sha256: &str) -> PathBuf {
        self.dir.join(format!("{sha256}.cwasm"))
    }

    /// Load the compiled form of the plugin with this hash, or compile `bytes`
    /// and store the result. Cache I/O problems never fail the load: they only
    /// cost a compile, and are logged.
    pub fn load_or_compile(
        &self,
        engine: &Engine,
        sha256: &str,
        bytes: &[u8],
    ) -> wasmtime::Result<(Component, CacheUse)> {
        let path = self.entry(sha256);
        if path.exists() {
            // SAFETY: see the module docs: only artifacts this cache wrote, for
            // this engine configuration, under the plugin's own hash.
            match unsafe { Component::deserialize_file(engine, &path) } {
                Ok(component) => return Ok((component, CacheUse::Hit)),
                Err(e) => log::warn!("discarding unusable cache entry {}: {e}", path.display()),
            }
        }
        let component = Component::new(engine, bytes)?;
        if let Err(e) = self.store(&path, &component) {
            log::warn!("cannot write the compile cache at {}: {e}", path.display());
        }
        Ok((component, CacheUse::Miss))
    }

    fn store(&self, path: &Path, component: &Component) -> anyhow::Result<()> {
        fs::create_dir_all(&self.dir)?;
        let bytes = component.serialize()?;
        let mut file = tempfile::NamedTempFile::new_in(&self.dir)?;
        file.write_all(&bytes)?;
        file.as_file().sync_all()?;
        file.persist(path)?;
        Ok(())
    }
}

/// SHA-256 of a plugin's bytes, lower-case hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Feeds `Hash` output into SHA-256: stable across processes, unlike `DefaultHasher`.
struct Sha256Hasher(Sha256);

impl Hasher for Sha256Hasher {
    fn write(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }

    fn finish(&self) -> u64 {
        unreachable!("only finalized through the digest")
    }
}
