//! The journal: an append-only JSON-lines file of everything `apply` did.
//!
//! Every hook run is bracketed by two records: `started` is written and
//! fsynced *before* the process is spawned, `finished` after it ended (status,
//! output excerpts, duration); `verified` records the verdict on the finding.
//! A crash (even SIGKILL) between the two leaves `started` as the last record:
//! the trail says what was in flight. A SIGINT/SIGTERM ends the hook in flight
//! with a `finished` record whose status is `interrupted` (with the signal),
//! or, between commands, an `interrupted` record naming the phase not started.
//!
//! A crash in the middle of a write can leave a torn last line. Opening the
//! journal to append (always under the apply lock) ends such a line with a
//! newline first, so the next record starts on a line of its own instead of
//! being glued to the fragment and lost with it; the fragment stays as
//! evidence. Reading skips unreadable lines and reports them (with their line
//! numbers) instead of failing. When the journal file is created its directory
//! is fsynced too, so the file's name survives a power loss along with the
//! records fsynced into it.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::runner::Ending;

/// Bytes of each output stream kept in a `finished` record.
pub const EXCERPT_BYTES: usize = 4096;

/// The journal's file name in the state directory.
pub const FILE_NAME: &str = "journal.jsonl";

/// One line of the journal.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    /// RFC 3339 UTC time, milliseconds.
    pub at: String,
    /// The `apply` invocation this record belongs to.
    pub run: String,
    pub action: String,
    pub target: String,
    pub hook: String,
    #[serde(flatten)]
    pub entry: Entry,
}

/// Which of a hook's commands ran.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Phase {
    Apply,
    Verify,
    Rollback,
}

impl Phase {
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Apply => "apply",
            Phase::Verify => "verify",
            Phase::Rollback => "rollback",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "lowercase")]
pub enum Entry {
    /// About to spawn a hook command.
    Started { phase: Phase, argv: Vec<String>, params: BTreeMap<String, String> },
    /// The command ended.
    Finished {
        phase: Phase,
        #[serde(flatten)]
        ending: Ending,
        duration_ms: u64,
        stdout: String,
        stderr: String,
    },
    /// The verdict on the finding after the hook.
    Verified { verdict: Verdict, detail: String },
    /// perfsage was asked to stop (SIGINT/SIGTERM) before this phase's command
    /// started: it was not run, and neither was anything after it.
    Interrupted { phase: Phase, signal: i32 },
}

/// Whether the finding that proposed an action is gone after it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    /// Re-collected, re-checked: the finding is gone.
    Cleared,
    /// Re-collected, re-checked: the finding is still there.
    StillPresent,
    /// The binding's verify command failed.
    VerifyFailed,
    /// No honest verification was possible (a replayed snapshot).
    Skipped,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Cleared => "cleared",
            Verdict::StillPresent => "still-present",
            Verdict::VerifyFailed => "verify-failed",
            Verdict::Skipped => "skipped",
        }
    }

    /// Whether the change should be rolled back.
    pub fn failed(self) -> bool {
        matches!(self, Verdict::StillPresent | Verdict::VerifyFailed)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    #[error("cannot open the journal {path}: {source}")]
    Open { path: PathBuf, source: std::io::Error },
    #[error("cannot write to the journal {path}: {source}")]
    Write { path: PathBuf, source: std::io::Error },
    #[error("cannot read the journal {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
}

/// The open journal, appending.
#[derive(Debug)]
pub struct Journal {
    file: File,
    path: PathBuf,
    repaired: bool,
}

impl Journal {
    /// Open (creating) the journal in `state_dir`, ending a torn last line
    /// first. Call it only while holding the apply lock: it may write.
    pub fn open(state_dir: &Path) -> Result<Self, JournalError> {
        let path = state_dir.join(FILE_NAME);
        let open_error = |source| JournalError::Open { path: path.clone(), source };
        // 0600: hook output and parameters may say more than others should read.
        let created = perfsage_private::open_file(&path, OpenOptions::new().create_new(true).read(true).append(true));
        let (file, created) = match created {
            Ok(file) => (file, true),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => (
                perfsage_private::open_file(&path, OpenOptions::new().read(true).append(true)).map_err(open_error)?,
                false,
            ),
            Err(e) => return Err(open_error(e)),
        };
        if created {
            // The new name is an entry in the directory: sync it, or a power loss
            // could take the file (and every fsynced record in it) away.
            File::open(state_dir).and_then(|dir| dir.sync_all()).map_err(open_error)?;
        }
        let mut journal = Journal { file, path, repaired: false };
        if !created {
            journal.repair().map_err(|source| JournalError::Write { path: journal.path.clone(), source })?;
        }
        Ok(journal)
    }

    /// End a torn last line (a crash mid-write) with a newline, so the next record stands alone.
    fn repair(&mut self) -> std::io::Result<()> {
        let len = self.file.metadata()?.len();
        if len == 0 {
            return Ok(());
        }
        let mut last = [0u8];
        self.file.read_exact_at(&mut last, len - 1)?;
        if last[0] != b'\n' {
            log::warn!(
                "the journal {} ended in a torn line (a crash mid-write); it is ended, kept as evidence, and skipped when read",
                self.path.display()
            );
            self.file.write_all(b"\n")?;
            self.file.sync_data()?;
            self.repaired = true;
        }
        Ok(())
    }

    /// Whether opening ended a torn last line.
    pub fn repaired(&self) -> bool {
        self.repaired
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Append one record as one line and sync it to disk before returning.
    pub fn append(&mut self, record: &Record) -> Result<(), JournalError> {
        let mut line = serde_json::to_string(record).expect("a record serializes");
        line.push('\n');
        self.file
            .write_all(line.as_bytes())
            .and_then(|_| self.file.sync_data())
            .map_err(|source| JournalError::Write { path: self.path.clone(), source })
    }
}

/// A journal line that could not be read back, with its 1-based line number.
#[derive(Debug, Clone, PartialEq)]
pub struct BadLine {
    pub line: usize,
    pub error: String,
}

/// Read every record of the journal in `state_dir` (none when it does not exist yet).
pub fn read(state_dir: &Path) -> Result<(Vec<Record>, Vec<BadLine>), JournalError> {
    let path = state_dir.join(FILE_NAME);
    let text = match std::fs::read(&path) {
        Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((Vec::new(), Vec::new())),
        Err(source) => return Err(JournalError::Read { path, source }),
    };
    let mut records = Vec::new();
    let mut bad = Vec::new();
    for (index, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        match serde_json::from_str(line) {
            Ok(record) => records.push(record),
            Err(e) => bad.push(BadLine { line: index + 1, error: e.to_string() }),
        }
    }
    Ok((records, bad))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(entry: Entry) -> Record {
        Record {
            at: "2026-01-01T00:00:00.000Z".into(),
            run: "r1".into(),
            action: "a".into(),
            target: "t".into(),
            hook: "h".into(),
            entry,
        }
    }

    #[test]
    fn records_round_trip_and_a_torn_line_is_reported_not_fatal() {
        let dir = tempfile::tempdir().unwrap();
        let mut journal = Journal::open(dir.path()).unwrap();
        let started = record(Entry::Started {
            phase: Phase::Apply,
            argv: vec!["/x".into()],
            params: BTreeMap::from([("k".into(), "v".into())]),
        });
        let finished = record(Entry::Finished {
            phase: Phase::Apply,
            ending: Ending::TimedOut { timeout_ms: 5 },
            duration_ms: 6,
            stdout: "o".into(),
            stderr: String::new(),
        });
        let verified = record(Entry::Verified { verdict: Verdict::StillPresent, detail: "d".into() });
        for r in [&started, &finished, &verified] {
            journal.append(r).unwrap();
        }
        let mut file = OpenOptions::new().append(true).open(journal.path()).unwrap();
        file.write_all(b"{\"at\": \"2026").unwrap();

        let (records, bad) = read(dir.path()).unwrap();
        assert_eq!(records, [started, finished, verified]);
        assert_eq!(bad.len(), 1);
        assert_eq!(bad[0].line, 4);
        let text = std::fs::read_to_string(journal.path()).unwrap();
        assert!(text.lines().next().unwrap().contains("\"event\":\"started\""));
        assert!(text.lines().nth(1).unwrap().contains("\"status\":\"timed-out\""));
    }

    #[test]
    fn opening_ends_a_torn_last_line_so_the_next_record_stands_alone() {
        let dir = tempfile::tempdir().unwrap();
        let first = record(Entry::Verified { verdict: Verdict::Cleared, detail: "one".into() });
        Journal::open(dir.path()).unwrap().append(&first).unwrap();
        let mut file = OpenOptions::new().append(true).open(dir.path().join(FILE_NAME)).unwrap();
        file.write_all(b"{\"at\": \"2026").unwrap();

        let mut journal = Journal::open(dir.path()).unwrap();
        assert!(journal.repaired());
        let second = record(Entry::Interrupted { phase: Phase::Rollback, signal: 15 });
        journal.append(&second).unwrap();
        let (records, bad) = read(dir.path()).unwrap();
        assert_eq!(records, [first, second], "the new record is whole, not glued to the fragment");
        assert_eq!(bad.len(), 1);
        assert_eq!(bad[0].line, 2);
        assert!(!Journal::open(dir.path()).unwrap().repaired(), "a whole journal is left alone");
    }

    #[test]
    fn a_missing_journal_is_empty() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(read(dir.path()).unwrap(), (vec![], vec![]));
    }
}
