//! Backlog's process-level fault suite.
//!
//! The binary `backlog-faults` has two subcommands that run against a database URL:
//! `worker` runs a [`Runner`](backlog::Runner) whose job appends one line to a ledger file when
//! an execution starts and one when it ends (job id, lease token, pid, time), and `produce`
//! enqueues jobs and appends every acknowledged id to a file, synced before it counts the
//! enqueue as done. The integration tests (`tests/faults`) kill, freeze and restart those
//! processes and the database, then hand the records to [`check`].
//!
//! ```
//! use backlog_faults::ledger::{Entry, Phase};
//!
//! let line = Entry { phase: Phase::Start, job: 7, token: "ab".repeat(16), pid: 42, at_us: 1 }.to_line();
//! assert_eq!(Entry::parse(&line).unwrap().job, 7);
//! ```

pub mod check;
pub mod ledger;

use backlog::JobArgs;
use serde::{Deserialize, Serialize};

/// The one job kind of the suite: sleeps this long, then succeeds (or fails, for its first
/// `fail_attempts` attempts, to be retried).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Work {
    /// How long an execution takes, in milliseconds.
    pub ms: u64,
    /// Attempts that fail with a retryable error before one succeeds (0: none fail).
    #[serde(default)]
    pub fail_attempts: i32,
}

impl JobArgs for Work {
    const KIND: &'static str = "fault_work";
}

/// This process's peak resident memory (`VmHWM` in `/proc/self/status`), in KiB; `None` where
/// there is no procfs.
pub fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()
}
