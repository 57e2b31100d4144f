//! Saving and replaying snapshots: the seam that makes every rule testable
//! without the machine the data came from.

use std::path::{Path, PathBuf};

use crate::model::{SCHEMA_VERSION, Snapshot};

#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    #[error("cannot read snapshot {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("{path} is not a perfsage snapshot: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("{path} has snapshot schema version {found}; this perfsage reads version {SCHEMA_VERSION}")]
    Version { path: PathBuf, found: u32 },
    #[error("cannot write snapshot {path}: {source}")]
    Write { path: PathBuf, source: std::io::Error },
}

/// Read a snapshot written by `perfsage snapshot` (or by hand, for fixtures).
pub fn load(path: &Path) -> Result<Snapshot, SnapshotError> {
    let text = std::fs::read_to_string(path).map_err(|source| SnapshotError::Read { path: path.into(), source })?;
    let snapshot: Snapshot =
        serde_json::from_str(&text).map_err(|e| SnapshotError::Parse { path: path.into(), message: e.to_string() })?;
    if snapshot.meta.schema_version != SCHEMA_VERSION {
        return Err(SnapshotError::Version { path: path.into(), found: snapshot.meta.schema_version });
    }
    Ok(snapshot)
}

/// Write a snapshot as pretty JSON, atomically (temp file + rename), mode 0600.
pub fn save(path: &Path, snapshot: &Snapshot) -> Result<(), SnapshotError> {
    let write = || -> std::io::Result<()> {
        let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
        let mut file = tempfile::NamedTempFile::new_in(dir)?;
        // 0600 whatever the umask: a snapshot can hold query texts and command lines.
        crate::private::restrict(file.as_file())?;
        serde_json::to_writer_pretty(&mut file, snapshot)?;
        std::io::Write::write_all(&mut file, b"\n")?;
        file.persist(path).map_err(|e| e.error)?;
        Ok(())
    };
    write().map_err(|source| SnapshotError::Write { path: path.into(), source })
}
