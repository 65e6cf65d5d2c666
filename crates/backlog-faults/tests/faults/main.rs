//! Process-level fault scenarios: separate `backlog-faults` worker and producer processes are
//! killed, frozen and cut off from a private PostgreSQL cluster that is crashed and restarted;
//! then the checker counts lost jobs, lost acknowledged enqueues and unexplained duplicate
//! executions. Each prints one summary line.
//!
//! They are `#[ignore]`d in the workspace's `cargo test` (they spawn a database cluster and take
//! tens of seconds) and run by `scripts/faults` (short profile, also called by `scripts/test`)
//! and `scripts/faults --long` (`BACKLOG_FAULTS_LONG=1`: more kills, more jobs).

mod cluster;
mod full_disk;
mod hosts;
mod max_connections;
mod netns;
mod overload;
mod partition;
mod procs;
mod scenarios;
mod skew;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use backlog::{Client, JobId, JobListParams, JobRow, JobState, Storage};

/// Scenarios run one at a time: they measure timing on a shared 2-core machine.
pub static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Whether the long profile was asked for.
pub fn long() -> bool {
    std::env::var_os("BACKLOG_FAULTS_LONG").is_some_and(|v| v != "0")
}

/// A scratch directory for one scenario, deleted on drop.
pub struct Scratch(pub PathBuf);

static SCRATCH: AtomicU32 = AtomicU32::new(0);

impl Scratch {
    /// A fresh directory whose name starts with `name`.
    pub fn new(name: &str) -> Scratch {
        let dir = std::env::temp_dir().join(format!(
            "backlog-faults-{name}-{}-{}",
            std::process::id(),
            SCRATCH.fetch_add(1, Ordering::SeqCst)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create a scratch directory");
        Scratch(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Opens `url` from the test process and applies the migrations.
pub async fn open(url: &str) -> Client {
    let storage: Arc<dyn Storage> = if let Some(path) = url.strip_prefix("sqlite://") {
        Arc::new(
            backlog::sqlite::SqliteStorage::open(path, Default::default())
                .await
                .expect("open SQLite"),
        )
    } else {
        Arc::new(
            backlog::postgres::PgStorage::connect(url, Default::default())
                .await
                .expect("connect to the private cluster"),
        )
    };
    backlog::migrate_up(storage.as_ref())
        .await
        .expect("migrate");
    Client::from_arc(storage)
}

/// Every job row (retrying while the database is away).
pub async fn rows(client: &Client, states: &[JobState]) -> Vec<JobRow> {
    let mut all = Vec::new();
    let mut before_id = None;
    loop {
        let params = JobListParams {
            states: states.to_vec(),
            before_id,
            limit: 500,
            ..JobListParams::default()
        };
        let page = match client.job_list(params).await {
            Ok(page) => page,
            Err(_) => {
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let Some(last) = page.last() else {
            return all;
        };
        before_id = Some(last.id);
        all.extend(page);
    }
}

/// Polls `check` every 100 ms until it returns `Some`, failing after `timeout`.
pub async fn poll<T, F, Fut>(what: &str, timeout: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The acknowledged ids recorded in `files`.
pub fn acked(files: &[PathBuf]) -> Vec<JobId> {
    files
        .iter()
        .filter_map(|f| std::fs::read_to_string(f).ok())
        .flat_map(|text| {
            text.lines()
                .filter_map(|l| l.trim().parse().ok())
                .collect::<Vec<JobId>>()
        })
        .collect()
}

/// Ledger entries of `files`.
pub fn entries(files: &[PathBuf]) -> Vec<backlog_faults::ledger::Entry> {
    backlog_faults::ledger::read_entries(files.iter().map(PathBuf::as_path)).expect("read ledgers")
}

/// The last `stats` line a worker printed, as (fenced, leases_lost).
pub fn last_stats(out: &Path) -> Option<(u64, u64)> {
    let text = std::fs::read_to_string(out).ok()?;
    let line = text.lines().rev().find(|l| l.starts_with("stats "))?;
    let field = |name: &str| {
        line.split(' ')
            .find_map(|kv| kv.strip_prefix(name)?.strip_prefix('='))
            .and_then(|v| v.parse().ok())
    };
    Some((field("fenced")?, field("leases_lost")?))
}

/// The peak resident memory (KiB) a process printed on its way out (`memory vm_hwm_kib=N`).
pub fn peak_memory(out: &Path) -> Option<u64> {
    let text = std::fs::read_to_string(out).ok()?;
    text.lines()
        .rev()
        .find_map(|l| l.strip_prefix("memory vm_hwm_kib="))?
        .parse()
        .ok()
}

/// The refusals a producer reported (`refused <error>`), one message each.
pub fn refusals(out: &Path) -> Vec<String> {
    std::fs::read_to_string(out)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.strip_prefix("refused "))
        .map(str::to_owned)
        .collect()
}
