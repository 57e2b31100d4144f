//! Saving and replaying snapshots: the seam that makes every rule testable
//! without the machine the data came from.

use std::path::{Path, PathBuf};

use perfsage_model::{SCHEMA_VERSION, Snapshot};
use perfsage_private::{Readers, write_atomic};

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

/// Write a snapshot as pretty JSON, atomically, mode 0600: a snapshot can
/// hold query texts and command lines.
pub fn save(path: &Path, snapshot: &Snapshot) -> Result<(), SnapshotError> {
    let mut json = serde_json::to_vec_pretty(snapshot).expect("a snapshot serializes");
    json.push(b'\n');
    write_atomic(path, &json, Readers::Private).map_err(|source| SnapshotError::Write { path: path.into(), source })
}
