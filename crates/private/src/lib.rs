//! perfsage's own files: directories only its user can enter, files only its
//! user can read.
//!
//! perfsage runs as root and keeps things others must neither read nor plant:
//! compiled plugins (native code it will execute), the audit history and saved
//! snapshots (query texts), the apply journal, locks. Everything it creates
//! for itself goes through here, so the modes do not depend on the umask:
//!
//! - [`ensure_dir`]: a directory, mode 0700. A missing one is created (parents
//!   too, 0700 as well). An existing one must be a directory owned by the
//!   effective uid (a symlink is followed: an operator may put the state on
//!   another disk, and the target is what is checked). One that group or
//!   others can *write* is refused: someone else may already have planted
//!   files in it, and only the operator can tell. One that is merely
//!   readable by others (older perfsage versions created 0755 directories)
//!   is fixed to 0700, with a warning: nothing could have been planted.
//! - [`create_file`] / [`open_file`]: a file created with mode 0600 at open
//!   and chmod-ed to 0600 through the open descriptor (the umask can only take
//!   bits away at open, and an existing file keeps its old mode otherwise).
//! - [`restrict_file`]: chmod 0600 a file someone else's code created (SQLite's
//!   database, WAL and shared-memory files).
//! - [`write_atomic`]: the one way perfsage replaces a whole file (snapshots,
//!   lock files, exports): a temp file in the same directory, its mode set
//!   through the descriptor, synced, then renamed over the name, so a reader
//!   sees the old file or the new one, never half of one, even after a crash.
//! - [`default_state_dir`]: where the journal, history and locks live by default.

use std::fs::{File, OpenOptions, Permissions};
use std::io;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Mode of perfsage's directories.
pub const DIR_MODE: u32 = 0o700;
/// Mode of perfsage's files.
pub const FILE_MODE: u32 = 0o600;

/// The effective user id: the owner perfsage's files must have.
pub fn euid() -> u32 {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() }
}

/// Make `path` a private directory (see the module docs): create it 0700, or
/// check an existing one and fix or refuse it.
pub fn ensure_dir(path: &Path) -> io::Result<()> {
    match std::fs::DirBuilder::new().recursive(true).mode(DIR_MODE).create(path) {
        Ok(()) => {}
        Err(e) => return Err(io::Error::new(e.kind(), format!("cannot create {}: {e}", path.display()))),
    }
    let meta = std::fs::metadata(path)?;
    if !meta.is_dir() {
        return Err(io::Error::other(format!("{} is not a directory", path.display())));
    }
    let me = euid();
    if meta.uid() != me {
        return Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            format!(
                "refusing {}: it is owned by uid {}, not by perfsage's user (uid {me}); \
                 another user could have planted files in it",
                path.display(),
                meta.uid()
            ),
        ));
    }
    let mode = meta.mode() & 0o7777;
    if mode & 0o022 != 0 {
        return Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            format!(
                "refusing {}: its mode {mode:04o} lets other users write into it, so files in it \
                 may have been planted; check its content, then `chmod 700` it",
                path.display()
            ),
        ));
    }
    if mode != DIR_MODE {
        // Readable by others (an older perfsage, or a fresh one under an odd
        // umask): nothing can have been planted, only read; close it.
        if mode & 0o077 != 0 {
            log::warn!("{} was readable by other users (mode {mode:04o}); now 0700", path.display());
        }
        std::fs::set_permissions(path, Permissions::from_mode(DIR_MODE))?;
    }
    Ok(())
}

/// Create or truncate `path` as a private file (mode 0600 whatever the umask).
pub fn create_file(path: &Path) -> io::Result<File> {
    open_file(path, OpenOptions::new().write(true).create(true).truncate(true))
}

/// Open `path` with `options` (which should create it), mode 0600 at creation
/// and set to 0600 on the open file either way.
pub fn open_file(path: &Path, options: &mut OpenOptions) -> io::Result<File> {
    let file = options.mode(FILE_MODE).open(path)?;
    restrict(&file)?;
    Ok(file)
}

/// Set an open file to 0600 (when it is not already).
pub fn restrict(file: &File) -> io::Result<()> {
    if file.metadata()?.mode() & 0o7777 != FILE_MODE {
        file.set_permissions(Permissions::from_mode(FILE_MODE))?;
    }
    Ok(())
}

/// Set the file at `path` to 0600 if it exists; a missing file is fine.
pub fn restrict_file(path: &Path) -> io::Result<()> {
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_symlink() => {
            Err(io::Error::other(format!("{} is a symbolic link, not perfsage's file", path.display())))
        }
        Ok(meta) if meta.mode() & 0o7777 != FILE_MODE => {
            std::fs::set_permissions(path, Permissions::from_mode(FILE_MODE))
        }
        Ok(_) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

/// Who may read a file written by [`write_atomic`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Readers {
    /// Only perfsage's user (0600): snapshots, reports and lock files can
    /// carry process names, endpoints and query texts.
    Private,
    /// Everyone (0644): node_exporter reads the Prometheus textfile as its
    /// own user, and it holds only counts and scores.
    Everyone,
}

/// Replace `path` with `bytes`, whole or not at all (see the module docs).
pub fn write_atomic(path: &Path, bytes: &[u8], readers: Readers) -> io::Result<()> {
    let mode = match readers {
        Readers::Private => FILE_MODE,
        Readers::Everyone => 0o644,
    };
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let mut file = tempfile::Builder::new().prefix(".perfsage-").tempfile_in(dir)?;
    file.as_file().set_permissions(Permissions::from_mode(mode))?;
    io::Write::write_all(&mut file, bytes)?;
    file.as_file().sync_all()?;
    file.persist(path).map_err(|e| e.error)?;
    Ok(())
}

/// The default state directory: `$XDG_STATE_HOME/perfsage` (or
/// `~/.local/state/perfsage`), home of the journal, the history and the locks.
pub fn default_state_dir() -> Option<PathBuf> {
    dirs::state_dir().or_else(|| dirs::home_dir().map(|home| home.join(".local/state"))).map(|dir| dir.join("perfsage"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_atomic_write_replaces_a_symlink_itself_with_the_mode_its_readers_need() {
        let dir = tempfile::tempdir().unwrap();
        let victim = dir.path().join("victim");
        std::fs::write(&victim, "keep").unwrap();
        let path = dir.path().join("export");
        std::os::unix::fs::symlink(&victim, &path).unwrap();
        write_atomic(&path, b"private", Readers::Private).unwrap();
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "keep", "the link's target is untouched");
        assert!(!std::fs::symlink_metadata(&path).unwrap().file_type().is_symlink());
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "private");
        assert_eq!(std::fs::metadata(&path).unwrap().mode() & 0o7777, FILE_MODE);
        write_atomic(&path, b"public", Readers::Everyone).unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().mode() & 0o7777, 0o644);
        let leftovers = std::fs::read_dir(dir.path()).unwrap().count();
        assert_eq!(leftovers, 2, "no temp file is left behind");
    }

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path).unwrap().mode() & 0o7777
    }

    #[test]
    fn a_new_directory_and_its_parents_are_0700() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("a/b");
        ensure_dir(&dir).unwrap();
        assert_eq!(mode(&dir), 0o700);
        assert_eq!(mode(&root.path().join("a")), 0o700);
    }

    #[test]
    fn a_readable_directory_is_closed_and_a_writable_one_refused() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("state");
        std::fs::create_dir(&dir).unwrap();
        std::fs::set_permissions(&dir, Permissions::from_mode(0o755)).unwrap();
        ensure_dir(&dir).unwrap();
        assert_eq!(mode(&dir), 0o700);

        std::fs::set_permissions(&dir, Permissions::from_mode(0o777)).unwrap();
        let error = ensure_dir(&dir).unwrap_err().to_string();
        assert!(error.contains("lets other users write into it"), "{error}");
        assert_eq!(mode(&dir), 0o777, "a refused directory is left for the operator to inspect");
    }

    #[test]
    fn a_directory_owned_by_another_user_is_refused() {
        if euid() != 0 {
            eprintln!("skipped: chown to another user needs root");
            return;
        }
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("cache");
        std::fs::create_dir(&dir).unwrap();
        std::fs::set_permissions(&dir, Permissions::from_mode(0o700)).unwrap();
        std::os::unix::fs::chown(&dir, Some(65534), Some(65534)).unwrap();
        let error = ensure_dir(&dir).unwrap_err().to_string();
        assert!(error.contains("owned by uid 65534"), "{error}");
    }

    #[test]
    fn a_file_that_is_not_a_directory_is_refused() {
        let root = tempfile::tempdir().unwrap();
        let file = root.path().join("f");
        std::fs::write(&file, "").unwrap();
        assert!(ensure_dir(&file).is_err());
    }

    #[test]
    fn files_are_0600_new_or_existing() {
        let root = tempfile::tempdir().unwrap();
        let new = root.path().join("new");
        create_file(&new).unwrap();
        assert_eq!(mode(&new), 0o600);
        let old = root.path().join("old");
        std::fs::write(&old, "x").unwrap();
        std::fs::set_permissions(&old, Permissions::from_mode(0o666)).unwrap();
        open_file(&old, OpenOptions::new().append(true).create(true)).unwrap();
        assert_eq!(mode(&old), 0o600);
        std::fs::set_permissions(&old, Permissions::from_mode(0o644)).unwrap();
        restrict_file(&old).unwrap();
        assert_eq!(mode(&old), 0o600);
        restrict_file(&root.path().join("missing")).unwrap();
        std::os::unix::fs::symlink(&old, root.path().join("link")).unwrap();
        assert!(restrict_file(&root.path().join("link")).is_err());
    }
}
