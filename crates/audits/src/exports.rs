//! The files written after each audit (JSON, HTML, Prometheus text), each
//! atomically, with the readers each may have.

use std::path::{Path, PathBuf};

use perfsage_private::{Readers, write_atomic};

use crate::audit::AuditError;
use crate::view::{AuditView, audit_json};
use crate::{html, prometheus};

/// Files to write after each audit.
#[derive(Debug, Clone, Default)]
pub struct Exports {
    pub json: Option<PathBuf>,
    pub html: Option<PathBuf>,
    pub prometheus: Option<PathBuf>,
}

impl Exports {
    /// Write every requested export of `view`, each atomically.
    pub fn write(&self, view: &AuditView) -> Result<(), AuditError> {
        let export = |path: &Path, text: &str, readers| {
            write_atomic(path, text.as_bytes(), readers)
                .map_err(|source| AuditError::Export { path: path.into(), source })
        };
        if let Some(path) = &self.json {
            export(path, &audit_json(view), Readers::Private)?;
        }
        if let Some(path) = &self.html {
            export(path, &html::render(view)?, Readers::Private)?;
        }
        if let Some(path) = &self.prometheus {
            export(path, &prometheus::render(view), Readers::Everyone)?;
        }
        Ok(())
    }
}
