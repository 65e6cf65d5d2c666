//! Wake-ups. SQLite has no `LISTEN/NOTIFY`, so every [`SqliteStorage`] opened on the same file
//! in this process shares one `tokio::sync::broadcast` channel, found through a global registry
//! keyed by the file's canonical path: a client and a worker that opened the file separately
//! still wake each other.
//!
//! Other processes sharing the file (a web process enqueuing for a worker process, `backlog
//! jobs cancel` from a shell) are heard by a watcher thread, which runs while the channel has
//! subscribers: every [`SqliteConfig::cross_process_wakeups`](crate::SqliteConfig::cross_process_wakeups)
//! (5 ms) it asks SQLite whether the file changed, which costs no page read, and only then
//! looks at two things:
//!
//! - **New jobs**, by their ids. Ids are taken under SQLite's write lock, so the jobs of one
//!   transaction have consecutive ids: the ranges this process inserted
//!   ([`Notifier::inserted`]) are skipped, and only the rest are read for the queues to wake.
//!   The same look also finds the jobs of a transactional enqueue (`tx.rs`) once the caller
//!   commits, which its early in-process wake-up cannot.
//! - **Signals** ([`record`]): every other change a worker must hear of (jobs made available
//!   by a scheduler, a retry or a rescue; a cancellation request; a resumed queue; a resigned
//!   leader; a changed cron schedule) is written as a row of `backlog_event` in the
//!   transaction of the change, marked with this process's random `origin`; the watcher reads
//!   the rows of other origins. This is what PostgreSQL's `NOTIFY` carries.
//!
//! [`SqliteStorage`]: crate::SqliteStorage

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, LazyLock, Mutex, PoisonError, Weak};
use std::time::Duration;

use backlog_storage::{Error, Event, JobInsertResult};
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
    /// How often the watcher looks for what other processes did (`None`: never).
    watch_every: Option<Duration>,
    /// Whether a watcher thread runs; it runs while this channel has subscribers.
    watching: Mutex<bool>,
    /// Id ranges of the jobs this process inserted that the watcher has not passed yet: its
    /// own inserts, which woke this process's subscribers already, are not news to it.
    own: Mutex<Vec<(JobId, JobId)>>,
    /// Set when ids started again from 1 (`SqliteStorage::truncate_all`, tests and benchmarks
    /// only): the watcher's last ids mean nothing any more.
    ids_restarted: AtomicBool,
    /// This process's mark on the signals it writes ([`record`]), drawn at random: its
    /// watcher skips them, since they were sent to this process's subscribers already.
    origin: i64,
}

impl Shared {
    /// Forgets every id range noted as this process's own.
    fn forget_own(&self) {
        self.own
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
    }
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
            origin: fastrand::i64(1..),
        });
        registry.insert(canonical_path.to_owned(), Arc::downgrade(&shared));
        Notifier { shared }
    }

    /// A new subscriber; starts the watcher of other processes if none runs. Blocks until the
    /// watcher has taken its first look (a fraction of a millisecond), so that every job and
    /// signal another process writes after this returns is news to it.
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

    /// Forgets the ranges [`inserted`](Self::inserted) noted, after an insert failed. A
    /// transaction that fails at its `COMMIT` (a full disk) gives its ids back, and the next
    /// insert, maybe another process's, takes them again: still noted, they would hide that
    /// process's jobs from the watcher, and they would wait for a poll. Forgetting every range
    /// costs at most a second wake-up for this process's own jobs inserted meanwhile.
    pub(crate) fn insert_failed(&self) {
        self.shared.forget_own();
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

    /// Tells subscribers that each of `queues` got available jobs (once per distinct queue):
    /// new jobs, which other processes find by their ids.
    pub(crate) fn job_available<'a>(&self, queues: impl IntoIterator<Item = &'a str>) {
        self.send(available(queues));
    }

    /// Sends `events` to this process's subscribers.
    pub(crate) fn send(&self, events: Vec<Event>) {
        for event in events {
            // No subscriber is not an error.
            let _ = self.shared.channel.send(event);
        }
    }

    /// The mark of this process's signals ([`record`]).
    pub(crate) fn origin(&self) -> i64 {
        self.shared.origin
    }
}

/// `JobAvailable` for each of `queues`, once per distinct queue.
pub(crate) fn available<'a>(queues: impl IntoIterator<Item = &'a str>) -> Vec<Event> {
    let mut events: Vec<Event> = Vec::new();
    for queue in queues {
        if !events
            .iter()
            .any(|e| matches!(e, Event::JobAvailable { queue: q } if q == queue))
        {
            events.push(Event::JobAvailable {
                queue: queue.to_owned(),
            });
        }
    }
    events
}

/// Writes `events` for the watchers of other processes sharing the file, in the transaction of
/// the change they announce (so they become visible with it), marked with `origin`
/// ([`Notifier::origin`]); then drops the signals older than the newest 4,096. Writes nothing,
/// and fails nothing, on a file without the signals' table yet.
pub(crate) fn record(tx: &Connection, origin: i64, events: &[Event]) -> Result<(), Error> {
    if events.is_empty() {
        return Ok(());
    }
    let mut insert = match tx.prepare_cached(sql::EVENT_INSERT) {
        Ok(insert) => insert,
        // A file not migrated to version 16 yet (a new build before `backlog migrate`): the
        // change itself goes through, and other processes find it by their polls, as before.
        // A statement that fails to prepare leaves the transaction as it was.
        Err(e) if crate::error::is_not_migrated(&e) => return Ok(()),
        Err(e) => return Err(crate::error::from_sqlite(e)),
    };
    let mut newest = None;
    for event in events {
        if let Some((kind, subject)) = encode(event) {
            let id = insert
                .insert(rusqlite::params![origin, kind, subject])
                .map_err(crate::error::from_sqlite)?;
            newest = Some(id);
        }
    }
    if let Some(newest) = newest {
        tx.prepare_cached(sql::EVENT_PRUNE)
            .and_then(|mut prune| prune.execute([newest]))
            .map_err(crate::error::from_sqlite)?;
    }
    Ok(())
}

/// A signal's row: its kind and subject (`migrations/016_events.up.sql`). `None` for `Resync`,
/// which only a watcher makes.
fn encode(event: &Event) -> Option<(&'static str, String)> {
    Some(match event {
        Event::JobAvailable { queue } => ("available", queue.clone()),
        Event::CancelRequested { ids } => (
            "cancel",
            ids.iter()
                .map(JobId::to_string)
                .collect::<Vec<_>>()
                .join(","),
        ),
        Event::QueueResumed { queue } => ("resumed", queue.clone()),
        Event::LeaderResigned { name } => ("leader_resigned", name.clone()),
        Event::CronChanged => ("cron_changed", String::new()),
        Event::Resync => return None,
    })
}

/// The event of a signal's row; `None` for a kind this build does not know (written by a
/// newer one) or a subject it cannot read.
fn decode(kind: &str, subject: String) -> Option<Event> {
    Some(match kind {
        "available" => Event::JobAvailable { queue: subject },
        "cancel" => Event::CancelRequested {
            ids: subject
                .split(',')
                .map(str::parse)
                .collect::<Result<_, _>>()
                .ok()?,
        },
        "resumed" => Event::QueueResumed { queue: subject },
        "leader_resigned" => Event::LeaderResigned { name: subject },
        "cron_changed" => Event::CronChanged,
        _ => return None,
    })
}

/// The watcher: every `every`, asks SQLite whether the file changed (`PRAGMA data_version`,
/// answered from shared memory), and if so reads what other processes did since the last look
/// ([`Watcher::look`]) and sends it to this process's subscribers. Stops when the channel has
/// no subscriber left or is gone. Errors (a locked or vanished file) are retried at the next
/// look: the runtime's polls cover any wake-up missed meanwhile. `ready` is told once the first
/// look is taken.
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
                shared.forget_own();
                return;
            }
        }
        watcher.connect(&shared.path);
        match watcher.look(&shared) {
            Ok(events) => {
                for event in events {
                    // No subscriber is not an error.
                    let _ = shared.channel.send(event);
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
    /// The newest signal's id at the last look; `None` until a look succeeds.
    seen_signal: Option<i64>,
}

impl Watcher {
    /// Opens the connection if it is not open, and takes the first look if none was taken.
    fn connect(&mut self, path: &Path) {
        if self.conn.is_none() {
            self.conn = open(path).ok();
        }
        if let (Some(conn), None) = (&self.conn, self.seen) {
            match newest(conn, sql::WATCH_MAX_ID)
                .and_then(|job| Ok((job, newest(conn, sql::WATCH_MAX_EVENT)?)))
            {
                Ok((job, signal)) => {
                    self.seen = Some(job);
                    self.seen_signal = Some(signal);
                }
                Err(_) => self.conn = None,
            }
        }
    }

    /// One look: what other processes did since the last one, if the file changed. Queues
    /// that got new available jobs, then the other processes' signals, each queue woken once.
    fn look(&mut self, shared: &Shared) -> rusqlite::Result<Vec<Event>> {
        let Some(conn) = &self.conn else {
            return Ok(Vec::new());
        };
        let version: i64 = conn
            .prepare_cached(sql::WATCH_DATA_VERSION)?
            .query_row([], |row| row.get(0))?;
        if self.version.replace(version) == Some(version) {
            return Ok(Vec::new());
        }
        // Ids went back (the tables were emptied with their counters): every row is new
        // again, and the ranges this process noted belong to the old numbering.
        let restarted = shared.ids_restarted.swap(false, Ordering::AcqRel);
        let queues = self.new_jobs(shared, restarted)?;
        let signals = self.signals(shared.origin, restarted)?;
        let mut events = available(queues.iter().map(String::as_str));
        for signal in signals {
            if !events.contains(&signal) {
                events.push(signal);
            }
        }
        Ok(events)
    }

    /// The queues of the available jobs that other processes inserted since the last look.
    fn new_jobs(&mut self, shared: &Shared, restarted: bool) -> rusqlite::Result<Vec<String>> {
        let (Some(conn), Some(from)) = (&self.conn, self.seen) else {
            return Ok(Vec::new());
        };
        let max = newest(conn, sql::WATCH_MAX_ID)?;
        let restarted = restarted || max < from;
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

    /// The signals of other origins written since the last look, oldest first, followed by
    /// `Resync` if some were dropped before this look could read them (ids have no gaps
    /// otherwise: a rolled-back insert gives its id back).
    fn signals(&mut self, origin: i64, restarted: bool) -> rusqlite::Result<Vec<Event>> {
        let (Some(conn), Some(from)) = (&self.conn, self.seen_signal) else {
            return Ok(Vec::new());
        };
        let max = newest(conn, sql::WATCH_MAX_EVENT)?;
        let from = if restarted || max < from { 0 } else { from };
        self.seen_signal = Some(max);
        if max <= from {
            return Ok(Vec::new());
        }
        let mut events = Vec::new();
        // The first row read must follow the last one seen: rows between them were pruned.
        let mut first = None;
        let mut statement = conn.prepare_cached(sql::WATCH_EVENTS)?;
        let mut rows = statement.query([from, max])?;
        while let Some(row) = rows.next()? {
            let id: i64 = row.get(0)?;
            first.get_or_insert(id);
            if row.get::<_, i64>(1)? == origin {
                continue;
            }
            if let Some(event) = decode(&row.get::<_, String>(2)?, row.get(3)?) {
                events.push(event);
            }
        }
        if from > 0 && first.is_none_or(|id| id > from + 1) {
            events.push(Event::Resync);
        }
        Ok(events)
    }
}

/// The newest id of the table `statement` reads (`sql/watch_max_*.sql`): 0 on an empty table,
/// or on a file not migrated yet (no table: no row is older than the first one it will hold).
fn newest(conn: &Connection, statement: &str) -> rusqlite::Result<i64> {
    let newest = conn
        .prepare_cached(statement)
        .and_then(|mut statement| statement.query_row([], |row| row.get::<_, Option<i64>>(0)));
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
    use super::*;

    #[test]
    fn signals_read_back_as_they_were_written() {
        let events = [
            Event::JobAvailable {
                queue: "emails".into(),
            },
            Event::CancelRequested { ids: vec![4, 7] },
            Event::QueueResumed {
                queue: "imports".into(),
            },
            Event::LeaderResigned {
                name: "maintenance".into(),
            },
            Event::CronChanged,
        ];
        for event in events {
            let (kind, subject) = encode(&event).unwrap();
            assert_eq!(decode(kind, subject), Some(event));
        }
        assert_eq!(encode(&Event::Resync), None);
        // A kind of a newer build, or a subject this one cannot read, is skipped.
        assert_eq!(decode("paused", "emails".into()), None);
        assert_eq!(decode("cancel", "4,x".into()), None);
    }

    #[test]
    fn only_the_newest_signals_are_kept() {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(include_str!("../migrations/016_events.up.sql"))
            .unwrap();
        let events: Vec<Event> = (0..5_000)
            .map(|i| Event::JobAvailable {
                queue: format!("q{i}"),
            })
            .collect();
        record(&conn, 1, &events[..100]).unwrap();
        record(&conn, 1, &events[100..]).unwrap();
        let (count, oldest): (i64, String) = conn
            .query_row(
                "SELECT count(*), (SELECT subject FROM backlog_event ORDER BY id LIMIT 1) \
                 FROM backlog_event",
                [],
                |row| Ok((row.get(0)?, row.get(1)?)),
            )
            .unwrap();
        assert_eq!((count, oldest.as_str()), (4_096, "q904"));
        // Nothing written, nothing dropped.
        record(&conn, 1, &[]).unwrap();
        let count: i64 = conn
            .query_row("SELECT count(*) FROM backlog_event", [], |row| row.get(0))
            .unwrap();
        assert_eq!(count, 4_096);
    }

    /// Ids noted by an insert that then failed (at its `COMMIT`) were given back: another
    /// process's job that takes one of them again is news.
    #[tokio::test]
    async fn ids_a_failed_insert_gave_back_are_news_again() {
        use backlog_storage::Storage;

        let storage = crate::testing::test_storage().await.unwrap();
        let mut events = storage.event_subscribe().await.unwrap();
        let noted: Vec<JobInsertResult> = [1, 1_000]
            .map(|id| JobInsertResult {
                id,
                duplicate: false,
            })
            .into();
        storage.notifier().inserted(&noted);
        storage.notifier().insert_failed();

        let other = Connection::open(storage.path()).unwrap();
        other.busy_timeout(Duration::from_secs(5)).unwrap();
        other
            .execute(
                "INSERT INTO backlog_job (state, queue, kind, max_attempts, scheduled_at, \
                 created_at) VALUES ('available', 'elsewhere', 'k', 1, \
                 '2026-01-01T00:00:00.000000Z', '2026-01-01T00:00:00.000000Z')",
                [],
            )
            .unwrap();
        assert!(other.last_insert_rowid() <= 1_000, "inside the noted range");
        let event = tokio::time::timeout(Duration::from_secs(5), events.recv())
            .await
            .expect("the other process's job woke no one within 5 s")
            .unwrap();
        assert_eq!(
            event,
            Event::JobAvailable {
                queue: "elsewhere".into()
            }
        );
    }

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
