//! How a command ends: the exit codes, and the error that ends it early.

/// The process exit codes (see `--help`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    Clean = 0,
    FindingsAtThreshold = 1,
    Usage = 2,
    Degraded = 3,
}

/// An error that ends the command, with the exit code it maps to.
#[derive(Debug)]
pub struct Failure {
    pub exit: Exit,
    pub error: anyhow::Error,
}

impl Failure {
    pub(super) fn usage(error: impl Into<anyhow::Error>) -> Self {
        Failure { exit: Exit::Usage, error: error.into() }
    }

    pub(super) fn degraded(error: impl Into<anyhow::Error>) -> Self {
        Failure { exit: Exit::Degraded, error: error.into() }
    }
}
