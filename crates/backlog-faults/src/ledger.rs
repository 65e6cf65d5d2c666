//! The execution ledger: one line per start and per end of an execution, appended and synced
//! by the worker process that ran it.
//!
//! The ledger is a file per worker process rather than a table: a write to it cannot be lost
//! with the job's database (the thing under test), and it needs no connection, so an execution
//! is recorded even while the database is down. Its end line is written before the outcome is
//! sent, so an execution with an end line may still have had its outcome refused; which
//! execution's outcome the database accepted is told by the lease token left on the finished
//! row.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::Path;
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

/// Whether a line records the start or the end of an execution.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// The job's code was entered.
    Start,
    /// The job's code returned (its outcome is sent next).
    End,
}

/// One ledger line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Start or end.
    pub phase: Phase,
    /// The job.
    pub job: i64,
    /// The lease token of the claim, as hex (`-` if the job carried none).
    pub token: String,
    /// The worker process.
    pub pid: u32,
    /// Wall-clock time, microseconds since the Unix epoch.
    pub at_us: i64,
}

impl Entry {
    /// The line, without its newline.
    pub fn to_line(&self) -> String {
        let phase = match self.phase {
            Phase::Start => "start",
            Phase::End => "end",
        };
        format!(
            "{phase} {} {} {} {}",
            self.job, self.token, self.pid, self.at_us
        )
    }

    /// Parses a line written by [`Entry::to_line`]; `None` for anything else (a line torn by a
    /// kill mid-write).
    pub fn parse(line: &str) -> Option<Entry> {
        let mut parts = line.split(' ');
        let phase = match parts.next()? {
            "start" => Phase::Start,
            "end" => Phase::End,
            _ => return None,
        };
        let entry = Entry {
            phase,
            job: parts.next()?.parse().ok()?,
            token: parts.next()?.to_owned(),
            pid: parts.next()?.parse().ok()?,
            at_us: parts.next()?.parse().ok()?,
        };
        parts.next().is_none().then_some(entry)
    }
}

/// Microseconds since the Unix epoch, now.
pub fn now_us() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// Appends lines to a file, each synced before `append` returns.
#[derive(Debug)]
pub struct SyncedLog {
    file: Mutex<File>,
}

impl SyncedLog {
    /// Opens (creating) `path` for appending.
    pub fn open(path: &Path) -> std::io::Result<SyncedLog> {
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        Ok(SyncedLog {
            file: Mutex::new(file),
        })
    }

    /// Appends `line` and a newline in one write, then syncs the file's data.
    pub fn append(&self, line: &str) -> std::io::Result<()> {
        let mut file = self
            .file
            .lock()
            .map_err(|_| std::io::Error::other("a writer of the log panicked"))?;
        file.write_all(format!("{line}\n").as_bytes())?;
        file.sync_data()
    }
}

/// Reads every well-formed entry of the ledger files in `paths` (missing files count as empty).
pub fn read_entries<'a>(paths: impl IntoIterator<Item = &'a Path>) -> std::io::Result<Vec<Entry>> {
    let mut entries = Vec::new();
    for path in paths {
        match std::fs::read_to_string(path) {
            Ok(text) => entries.extend(text.lines().filter_map(Entry::parse)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
    }
    Ok(entries)
}
