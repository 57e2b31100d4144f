//! The on-disk cache of compiled plugins, which nobody else can plant.
//!
//! Compiling a component takes tens of milliseconds; loading its serialized
//! form takes well under one. Entries live at
//! `<dir>/<engine>/<plugin-sha256>.cwasm`, where `<engine>` hashes the
//! engine's `precompile_compatibility_hash` (wasmtime version, target, and
//! every setting that changes code), so an artifact is only ever loaded by an
//! engine that could have written it.
//!
//! A serialized component is native code that `Component::deserialize`
//! trusts completely: loading a planted entry would run its author's code as
//! perfsage's user (root). So before any byte is deserialized:
//!
//! - both directories are private ([`perfsage_private::ensure_dir`]: 0700,
//!   owned by the effective uid; one others can write is refused, and the
//!   cache is then off for the run: plugins are compiled, nothing is stored);
//! - the entry is opened with `O_NOFOLLOW` (a symlink is refused, even to a
//!   valid entry) and `O_NONBLOCK` (a planted FIFO cannot hang the open), and
//!   checked with `fstat` on the open descriptor, not the path: a regular
//!   file, owned by the effective uid, not writable by group or others;
//! - its bytes, read once from that descriptor, must start with a header
//!   carrying a SHA-256 digest of the plugin's hash and the serialized bytes,
//!   written when perfsage compiled it; the same in-memory bytes that were
//!   hashed are the ones deserialized (no second read to race with).
//!
//! Why a digest in the entry and not an HMAC: the directory is one only
//! perfsage's user can write, and the owner and mode checks refuse anything
//! written by anyone else; whoever can write as that user can already do
//! anything perfsage can, key file included. The digest catches what those
//! checks cannot: truncated or corrupt files, and an entry copied from
//! another plugin's name (the digest covers the plugin's hash, so a valid
//! entry of plugin A under plugin B's name is refused). One file rather than
//! a sidecar keeps writing atomic: temp file (0600), fsync, rename.
//!
//! An entry that fails any check is never deserialized: the plugin is
//! compiled from its bytes, and the entry atomically replaced. A missing
//! entry is logged at debug level, a foreign or corrupt one as a warning
//! naming the reason (both shown by `-v`/`-vv`).

use std::fs::{self, File, OpenOptions};
use std::hash::{Hash, Hasher};
use std::io::{self, Read};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use wasmtime::Engine;
use wasmtime::component::Component;

use perfsage_private as private;

/// Whether a component came from the cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheUse {
    Hit,
    Miss,
    Disabled,
}

/// The first line of every entry; the second is the digest in hex.
const MAGIC: &[u8] = b"perfsage-cwasm 1\n";
/// The header: magic, 64 hex digits, newline.
const HEADER_LEN: usize = MAGIC.len() + 64 + 1;
/// Larger entries are refused unread: compiled rule plugins are a few MiB.
const MAX_ENTRY_BYTES: u64 = 512 * 1024 * 1024;

/// A directory of compiled components for one engine configuration.
#[derive(Debug, Clone)]
pub struct CompileCache {
    dir: PathBuf,
}

/// Why an entry was not used.
#[derive(Debug, PartialEq, Eq)]
pub enum Rejected {
    /// No entry yet: the usual first run.
    Missing,
    /// Present but not trustworthy or not usable; the reason says why.
    Refused(String),
}

impl CompileCache {
    /// The cache for `engine` under `root`: both directories created or
    /// checked private. An error means the cache cannot be used safely.
    pub fn open(root: &Path, engine: &Engine) -> io::Result<Self> {
        let mut hasher = Sha256Hasher(Sha256::new());
        engine.precompile_compatibility_hash().hash(&mut hasher);
        let engine_key = hex(&hasher.0.finalize()[..8]);
        private::ensure_dir(root)?;
        let dir = root.join(engine_key);
        private::ensure_dir(&dir)?;
        Ok(CompileCache { dir })
    }

    /// The default root: `$XDG_CACHE_HOME/perfsage` (or `~/.cache/perfsage`).
    pub fn default_root() -> Option<PathBuf> {
        dirs::cache_dir().map(|d| d.join("perfsage"))
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Where the entry of the plugin with this hash lives.
    pub fn entry(&self, sha256: &str) -> PathBuf {
        self.dir.join(format!("{sha256}.cwasm"))
    }

    /// Load the compiled form of the plugin `label` with this hash, or compile
    /// `bytes` and store the result. Cache problems never fail the load: they
    /// cost a compile, and are logged.
    pub fn load_or_compile(
        &self,
        engine: &Engine,
        label: &str,
        sha256: &str,
        bytes: &[u8],
    ) -> wasmtime::Result<(Component, CacheUse)> {
        let path = self.entry(sha256);
        match read_entry(&path, sha256) {
            Ok(entry) => {
                // SAFETY: the bytes are this cache's own artifact for this
                // plugin and engine: read through a descriptor that is a
                // regular file owned by us and writable by no one else, in a
                // directory only we can write, and matching the digest we
                // recorded when we compiled them (see the module docs).
                match unsafe { Component::deserialize(engine, entry.serialized()) } {
                    Ok(component) => return Ok((component, CacheUse::Hit)),
                    Err(e) => log::warn!("compile cache: recompiling {label}: {} does not load: {e}", path.display()),
                }
            }
            Err(Rejected::Missing) => log::debug!("compile cache: compiling {label}: no entry yet"),
            Err(Rejected::Refused(reason)) => {
                log::warn!("compile cache: recompiling {label}: refused {}: {reason}", path.display())
            }
        }
        let component = Component::new(engine, bytes)?;
        if let Err(e) = self.store(&path, sha256, &component) {
            log::warn!("cannot write the compile cache at {}: {e}", path.display());
        }
        Ok((component, CacheUse::Miss))
    }

    /// Write the entry, header + serialized bytes, with the one atomic write
    /// (`private::write_atomic`: 0600, synced, renamed over whatever the name
    /// held; a rename replaces a symlink itself, never its target).
    fn store(&self, path: &Path, sha256: &str, component: &Component) -> anyhow::Result<()> {
        let serialized = component.serialize()?;
        let header = hex(&digest(sha256, &serialized));
        let mut entry = Vec::with_capacity(MAGIC.len() + header.len() + 1 + serialized.len());
        entry.extend_from_slice(MAGIC);
        entry.extend_from_slice(header.as_bytes());
        entry.push(b'\n');
        entry.extend_from_slice(&serialized);
        private::write_atomic(path, &entry, private::Readers::Private)?;
        Ok(())
    }
}

/// The digest an entry must carry: it binds the serialized bytes to the
/// plugin they were compiled from.
fn digest(sha256: &str, serialized: &[u8]) -> [u8; 32] {
    let mut hasher = Sha256::new();
    hasher.update(MAGIC);
    hasher.update(sha256.as_bytes());
    hasher.update(b"\n");
    hasher.update(serialized);
    hasher.finalize().into()
}

/// A checked entry, header included (not copied off: entries are megabytes).
#[derive(Debug, PartialEq, Eq)]
pub struct Entry {
    bytes: Vec<u8>,
}

impl Entry {
    /// The serialized component, ready for `Component::deserialize`.
    pub fn serialized(&self) -> &[u8] {
        &self.bytes[HEADER_LEN..]
    }
}

/// Read and check the entry at `path` for the plugin `sha256`.
pub fn read_entry(path: &Path, sha256: &str) -> Result<Entry, Rejected> {
    let refused = |reason: String| Rejected::Refused(reason);
    let mut file = match OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(path)
    {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(Rejected::Missing),
        Err(e) if e.raw_os_error() == Some(libc::ELOOP) => {
            return Err(refused("it is a symbolic link; only a file perfsage wrote is loaded".into()));
        }
        Err(e) => return Err(refused(format!("cannot open it: {e}"))),
    };
    let meta = file.metadata().map_err(|e| refused(format!("cannot stat it: {e}")))?;
    check_metadata(&meta)?;
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    read_bounded(&mut file, &mut bytes).map_err(|e| refused(format!("cannot read it: {e}")))?;
    if bytes.len() < HEADER_LEN || !bytes.starts_with(MAGIC) || bytes[HEADER_LEN - 1] != b'\n' {
        return Err(refused("it has no perfsage header (written by another program or an older perfsage)".into()));
    }
    let recorded = &bytes[MAGIC.len()..HEADER_LEN - 1];
    let serialized = &bytes[HEADER_LEN..];
    if recorded != hex(&digest(sha256, serialized)).as_bytes() {
        return Err(refused(
            "its digest does not match its content and plugin (corrupt, or copied from another plugin)".into(),
        ));
    }
    Ok(Entry { bytes })
}

/// The owner and type checks on the open file.
fn check_metadata(meta: &fs::Metadata) -> Result<(), Rejected> {
    let refused = |reason: String| Err(Rejected::Refused(reason));
    if !meta.file_type().is_file() {
        return refused("it is not a regular file".into());
    }
    let me = private::euid();
    if meta.uid() != me {
        return refused(format!("it is owned by uid {}, not by perfsage's user (uid {me})", meta.uid()));
    }
    let mode = meta.mode() & 0o7777;
    if mode & 0o022 != 0 {
        return refused(format!("its mode {mode:04o} lets other users write it"));
    }
    if meta.len() > MAX_ENTRY_BYTES {
        return refused(format!("it is {} bytes, more than any compiled plugin", meta.len()));
    }
    Ok(())
}

/// Read to the end, but never more than the cap (the file may grow after fstat).
fn read_bounded(file: &mut File, bytes: &mut Vec<u8>) -> io::Result<()> {
    let read = file.take(MAX_ENTRY_BYTES + 1).read_to_end(bytes)?;
    if read as u64 > MAX_ENTRY_BYTES {
        return Err(io::Error::other("it grew past the size cap while being read"));
    }
    Ok(())
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    const PLUGIN: &str = "ab12";

    /// An entry as `store` writes it, around arbitrary bytes.
    fn write_entry(path: &Path, sha256: &str, serialized: &[u8]) {
        let mut bytes = MAGIC.to_vec();
        bytes.extend(hex(&digest(sha256, serialized)).as_bytes());
        bytes.push(b'\n');
        bytes.extend(serialized);
        fs::write(path, bytes).unwrap();
        fs::set_permissions(path, fs::Permissions::from_mode(0o600)).unwrap();
    }

    fn refusal(path: &Path, sha256: &str) -> String {
        match read_entry(path, sha256) {
            Err(Rejected::Refused(reason)) => reason,
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    #[test]
    fn a_good_entry_reads_back_without_its_header() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("e.cwasm");
        write_entry(&path, PLUGIN, b"compiled code");
        assert_eq!(read_entry(&path, PLUGIN).unwrap().serialized(), b"compiled code");
        assert_eq!(read_entry(&dir.path().join("none.cwasm"), PLUGIN), Err(Rejected::Missing));
    }

    #[test]
    fn a_flipped_byte_or_another_plugins_entry_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("e.cwasm");
        write_entry(&path, PLUGIN, b"compiled code");
        let mut bytes = fs::read(&path).unwrap();
        *bytes.last_mut().unwrap() ^= 1;
        fs::write(&path, &bytes).unwrap();
        assert!(refusal(&path, PLUGIN).contains("digest does not match"));

        write_entry(&path, "another plugin", b"compiled code");
        assert!(refusal(&path, PLUGIN).contains("digest does not match"));
    }

    #[test]
    fn a_headerless_writable_symlinked_or_special_entry_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("e.cwasm");
        fs::write(&path, b"\x7fELF raw serialized component").unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();
        assert!(refusal(&path, PLUGIN).contains("no perfsage header"));

        write_entry(&path, PLUGIN, b"compiled code");
        fs::set_permissions(&path, fs::Permissions::from_mode(0o620)).unwrap();
        assert!(refusal(&path, PLUGIN).contains("lets other users write it"));

        let link = dir.path().join("link.cwasm");
        fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();
        std::os::unix::fs::symlink(&path, &link).unwrap();
        assert!(refusal(&link, PLUGIN).contains("symbolic link"));

        let fifo = dir.path().join("fifo.cwasm");
        let name = std::ffi::CString::new(fifo.as_os_str().as_encoded_bytes()).unwrap();
        // SAFETY: a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(name.as_ptr(), 0o600) }, 0);
        assert!(refusal(&fifo, PLUGIN).contains("not a regular file"), "a FIFO neither hangs nor loads");
    }
}
