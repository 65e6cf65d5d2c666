//! Wake-ups. SQLite has no `LISTEN/NOTIFY`, so every [`SqliteStorage`] opened on the same file
//! in this process shares one `tokio::sync::broadcast` channel, found through a global registry
//! keyed by the file's canonical path: a client and a worker that opened the file separately
//! still wake each other.
//!
//! Jobs inserted by other processes (a web process enqueuing for a worker process) are found by
//! a watcher thread, which runs while the channel has subscribers: every
//! [`SqliteConfig::cross_process_wakeups`](crate::SqliteConfig::cross_process_wakeups) (5 ms)
//! it asks SQLite whether the file changed, which costs no page read, and only then whether
//! the newest job's id grew. Ids are taken under SQLite's write lock, so the jobs of one
//! transaction have consecutive ids: the ranges this process inserted ([`Notifier::inserted`])
//! are skipped, and only the rest are read for the queues to wake. The same look also finds
//! the jobs of a transactional enqueue (`tx.rs`) once the caller commits, which its early
//! in-process wake-up cannot. Other cross-process changes (a scheduler, a retry, a resume in
//! another process) still wait for the runtime's poll.
//!
//! [`SqliteStorage`]: crate::SqliteStorage

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, LazyLock, Mutex, PoisonError, Weak};
use std::time::Duration;

use backlog_storage::{Event, JobInsertResult};
use backlog_types::JobId;
use rusqlite::{Connection, OpenFlags};
use tokio::sync::broadcast;

use crate::sql;

/// Events buffered before a slow subscriber lags (it then gets a `Lagged` error from the
/// channel and should poll every queue once).
const CAPACITY: usize = 1024;

static REGISTRY: LazyLock<Mutex<HashMap<PathBuf, Weak<Shared>>>> =
    LazyLock::new(|| Mutex::new(HashMap::new()));

/// The wake-up channel of one database file.
#[derive(Clone)]
pub(crate) struct Notifier {
    shared: Arc<Shared>,
}

struct Shared {
    channel: broadcast::Sender<Event>,
    path: PathBuf,
    /// How often the watcher looks for jobs that other processes inserted (`None`: never).
    watch_every: Option<Duration>,
    /// Whether a watcher thread runs; it runs while this channel has subscribers.
    watching: Mutex<bool>,
    /// Id ranges of the jobs this process inserted that the watcher has not passed yet: its
    /// own inserts, which woke this process's subscribers already, are not news to it.
    own: Mutex<Vec<(JobId, JobId)>>,
    /// Set when ids started again from 1 (`SqliteStorage::truncate_all`, tests and benchmarks
    /// only): the watcher's last id means nothing any more.
    ids_restarted: AtomicBool,
}

impl Notifier {
    /// The channel shared by every storage of this process opened on `canonical_path`. The first
    /// storage opened on the file decides `watch_every`
    /// ([`SqliteConfig::cross_process_wakeups`](crate::SqliteConfig::cross_process_wakeups)).
    pub(crate) fn for_path(canonical_path: &Path, watch_every: Option<Duration>) -> Notifier {
        let mut registry = REGISTRY.lock().unwrap_or_else(PoisonError::into_inner);
        registry.retain(|_, shared| shared.strong_count() > 0);
        if let Some(shared) = registry.get(canonical_path).and_then(Weak::upgrade) {
            return Notifier { shared };
        }
        let shared = Arc::new(Shared {
            channel: broadcast::channel(CAPACITY).0,
            path: canonical_path.to_owned(),
            watch_every,
            watching: Mutex::new(false),
            own: Mutex::new(Vec::new()),
            ids_restarted: AtomicBool::new(false),
        });
        registry.insert(canonical_path.to_owned(), Arc::downgrade(&shared));
        Notifier { shared }
    }

    /// A new subscriber; starts the watcher of other processes' inserts if none runs. Blocks
    /// until the watcher has taken its first look (a fraction of a millisecond), so that every
    /// job inserted by another process after this returns is news to it.
    pub(crate) fn subscribe(&self) -> broadcast::Receiver<Event> {
        // Subscribed before the check, so that a watcher about to stop for want of
        // subscribers sees this one (it decides under the same lock).
        let receiver = self.shared.channel.subscribe();
        if let Some(every) = self.shared.watch_every {
            let mut watching = self
                .shared
                .watching
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            if !*watching {
                let shared = Arc::downgrade(&self.shared);
                let (ready, first_look) = std::sync::mpsc::channel();
                let started = std::thread::Builder::new()
                    .name("backlog-sqlite-watch".into())
                    .spawn(move || watch(shared, every, ready));
                // Without a watcher, jobs of other processes are found by the runtime's polls.
                *watching = started.is_ok();
                let _ = first_look.recv();
            }
        }
        receiver
    }

    /// Notes the jobs this process is inserting (it wakes its own subscribers), so that the
    /// watcher does not take them for another process's. Called inside the inserting
    /// transaction, before its commit makes the jobs visible to the watcher.
    pub(crate) fn inserted(&self, results: &[JobInsertResult]) {
        let mut ids = results.iter().filter(|r| !r.duplicate).map(|r| r.id);
        let Some(first) = ids.next() else { return };
        let (low, high) = ids.fold((first, first), |(l, h), id| (l.min(id), h.max(id)));
        let watching = *self
            .shared
            .watching
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if watching {
            // One insert is one transaction, which holds SQLite's write lock: no other
            // process's job has an id between its first and its last.
            self.shared
                .own
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push((low, high));
        }
    }

    /// Job ids start again from 1: the table was emptied with its id counter (tests and
    /// benchmarks), so the watcher must read from the first id again.
    pub(crate) fn ids_restarted(&self) {
        self.shared.ids_restarted.store(true, Ordering::Release);
    }

    /// Tells subscribers that each of `queues` got available jobs (once per distinct queue).
    pub(crate) fn job_available<'a>(&self, queues: impl IntoIterator<Item = &'a str>) {
        let mut seen: Vec<&str> = Vec::new();
        for queue in queues {
            if !seen.contains(&queue) {
                seen.push(queue);
                // No subscriber is not an error.
                let _ = self.shared.channel.send(Event::JobAvailable {
                    queue: queue.to_owned(),
                });
            }
        }
    }

    /// Tells subscribers that cancellation of these running jobs was requested.
    pub(crate) fn cancel_requested(&self, ids: Vec<backlog_types::JobId>) {
        if !ids.is_empty() {
            // No subscriber is not an error.
            let _ = self.shared.channel.send(Event::CancelRequested { ids });
        }
    }

    /// Tells subscribers that `queue` was resumed.
    pub(crate) fn queue_resumed(&self, queue: &str) {
        // No subscriber is not an error.
        let _ = self.shared.channel.send(Event::QueueResumed {
            queue: queue.to_owned(),
        });
    }

    /// Tells subscribers that the lease `name` was given up.
    pub(crate) fn leader_resigned(&self, name: &str) {
        let _ = self.shared.channel.send(Event::LeaderResigned {
            name: name.to_owned(),
        });
    }

    /// Tells subscribers that a periodic job schedule changed.
    pub(crate) fn cron_changed(&self) {
        let _ = self.shared.channel.send(Event::CronChanged);
    }
}

/// The watcher: every `every`, asks SQLite whether the file changed (`PRAGMA data_version`,
/// answered from shared memory), and if so whether jobs were inserted since the last look
/// (`max(id)`: ids only grow, the table is `AUTOINCREMENT`). Ranges of ids not inserted by this
/// process are read for the queues of their available jobs, and those queues' subscribers
/// woken. Stops when the channel has no subscriber left or is gone. Errors (a locked or
/// vanished file) are retried at the next look: the runtime's polls cover any wake-up missed
/// meanwhile. `ready` is told once the first look is taken.
fn watch(shared: Weak<Shared>, every: Duration, ready: std::sync::mpsc::Sender<()>) {
    let mut watcher = Watcher::default();
    if let Some(shared) = shared.upgrade() {
        watcher.connect(&shared.path);
    }
    let _ = ready.send(());
    loop {
        std::thread::sleep(every);
        let Some(shared) = shared.upgrade() else {
            return;
        };
        {
            let mut watching = shared
                .watching
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            if shared.channel.receiver_count() == 0 {
                *watching = false;
                shared
                    .own
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .clear();
                return;
            }
        }
        watcher.connect(&shared.path);
        match watcher.look(&shared) {
            Ok(queues) => {
                for queue in queues {
                    // No subscriber is not an error.
                    let _ = shared.channel.send(Event::JobAvailable { queue });
                }
            }
            // Opened again at the next look (the file may have been replaced); a new
            // connection's data_version is not comparable with the old one's.
            Err(_) => {
                watcher.conn = None;
                watcher.version = None;
            }
        }
    }
}

#[derive(Default)]
struct Watcher {
    conn: Option<Connection>,
    /// `PRAGMA data_version` at the last look.
    version: Option<i64>,
    /// The newest job id at the last look; `None` until a look succeeds.
    seen: Option<JobId>,
}

impl Watcher {
    /// Opens the connection if it is not open, and takes the first look if none was taken.
    fn connect(&mut self, path: &Path) {
        if self.conn.is_none() {
            self.conn = open(path).ok();
        }
        if let (Some(conn), None) = (&self.conn, self.seen) {
            match newest(conn) {
                Ok(id) => self.seen = Some(id),
                Err(_) => self.conn = None,
            }
        }
    }

    /// One look: the queues that got available jobs from other processes since the last one.
    fn look(&mut self, shared: &Shared) -> rusqlite::Result<Vec<String>> {
        let (Some(conn), Some(from)) = (&self.conn, self.seen) else {
            return Ok(Vec::new());
        };
        let version: i64 = conn
            .prepare_cached(sql::WATCH_DATA_VERSION)?
            .query_row([], |row| row.get(0))?;
        if self.version.replace(version) == Some(version) {
            return Ok(Vec::new());
        }
        let max = newest(conn)?;
        // Ids went back (the table was emptied with its counter): every job is new again, and
        // the ranges this process noted belong to the old numbering.
        let restarted = shared.ids_restarted.swap(false, Ordering::AcqRel) || max < from;
        let from = if restarted { 0 } else { from };
        self.seen = Some(max);
        if max <= from {
            return Ok(Vec::new());
        }
        let own = {
            let mut own = shared.own.lock().unwrap_or_else(PoisonError::into_inner);
            if restarted {
                own.clear();
            }
            let mut ranges = own.clone();
            own.retain(|&(_, high)| high > max);
            ranges.sort_unstable();
            ranges
        };
        let mut queues: Vec<String> = Vec::new();
        let mut statement = conn.prepare_cached(sql::WATCH_QUEUES)?;
        for (low, high) in foreign(from, max, &own) {
            let mut rows = statement.query([low, high])?;
            while let Some(row) = rows.next()? {
                let queue: String = row.get(0)?;
                if !queues.contains(&queue) {
                    queues.push(queue);
                }
            }
        }
        Ok(queues)
    }
}

/// The newest job's id: 0 on an empty table, or on a file not migrated yet (no job table: no
/// job is older than the first one it will hold).
fn newest(conn: &Connection) -> rusqlite::Result<JobId> {
    let newest = conn
        .prepare_cached(sql::WATCH_MAX_ID)
        .and_then(|mut statement| statement.query_row([], |row| row.get::<_, Option<JobId>>(0)));
    match newest {
        Ok(id) => Ok(id.unwrap_or(0)),
        Err(e) if crate::error::is_not_migrated(&e) => Ok(0),
        Err(e) => Err(e),
    }
}

/// The ranges of ids in `from + 1 ..= to` outside `own` (sorted by their start).
fn foreign(from: JobId, to: JobId, own: &[(JobId, JobId)]) -> Vec<(JobId, JobId)> {
    let mut ranges = Vec::new();
    let mut next = from + 1;
    for &(low, high) in own {
        if high < next {
            continue;
        }
        if low > to {
            break;
        }
        if low > next {
            ranges.push((next, low - 1));
        }
        next = next.max(high + 1);
    }
    if next <= to {
        ranges.push((next, to));
    }
    ranges
}

/// The watcher's connection: read-only, and waiting at most a moment for a lock (the next look
/// comes soon).
fn open(path: &Path) -> rusqlite::Result<Connection> {
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(path, flags)?;
    conn.busy_timeout(Duration::from_millis(50))?;
    Ok(conn)
}

#[cfg(test)]
mod tests {
    use super::foreign;

    #[test]
    fn foreign_ranges_are_what_this_process_did_not_insert() {
        assert_eq!(foreign(10, 20, &[]), vec![(11, 20)]);
        assert_eq!(foreign(10, 20, &[(11, 20)]), vec![]);
        assert_eq!(
            foreign(10, 20, &[(11, 14), (18, 19)]),
            vec![(15, 17), (20, 20)]
        );
        // Ranges already passed, or beyond this look, change nothing.
        assert_eq!(foreign(10, 20, &[(1, 5), (25, 30)]), vec![(11, 20)]);
        assert_eq!(foreign(10, 20, &[(5, 12), (21, 30)]), vec![(13, 20)]);
        assert_eq!(
            foreign(10, 20, &[(12, 13), (12, 16)]),
            vec![(11, 11), (17, 20)]
        );
    }
}
