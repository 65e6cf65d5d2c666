//! Checkpoints off the writer thread.
//!
//! In WAL mode a commit appends pages to the WAL, and a checkpoint copies them back into the
//! database file. SQLite's automatic checkpoint runs inside the COMMIT that takes the WAL past
//! 1,000 pages, on the committing connection: here the writer thread, which answers nobody and
//! starts no other batch until the copy and its fsyncs are done. Instead, the writer's WAL hook
//! ([`on_commit`]) only notes the WAL's size and, every [`TRIGGER_PAGES`] new pages, wakes the
//! checkpointer thread, which runs a PASSIVE checkpoint (it never waits for the writer or the
//! readers) on a connection of its own while the writer goes on.
//!
//! A checkpoint running beside the writer rarely lets the WAL start over: SQLite rewinds it
//! when a write transaction begins with every frame already copied, and under load the writer
//! has appended more by the time the checkpointer is done. So when the WAL reaches
//! [`RESTART_PAGES`], the writer checkpoints it itself, in its hook (cheap: the checkpointer
//! has copied all but the newest pages), and the next write transaction rewinds it. SQLite
//! refuses a second checkpoint while one runs, so the writer skips its own while the
//! checkpointer is in a pass, and tries again at its next commit; at [`LIMIT_PAGES`] it waits
//! for the pass to end. The WAL file stays within [`LIMIT_PAGES`] pages and one commit (with
//! SQLite's automatic checkpoint, 1,000 pages and one commit), unless a long read transaction
//! keeps the WAL from starting over, as with SQLite's own checkpoint.
//!
//! A full disk breaks that cycle. If the last pass could not copy every frame (a reader still
//! needed older ones), the WAL does not start over; it grows into whatever space is freed and
//! fills the disk again before it reaches the [`TRIGGER_PAGES`] that would wake the
//! checkpointer, and every write fails until the process restarts. So once a write has failed
//! because the disk is full ([`disk_full`]), the writer runs a TRUNCATE checkpoint before each
//! batch until one succeeds ([`reclaim`]). It copies the whole WAL back (the database file
//! grows into the freed space), waits up to [`RECLAIM_WAIT`] for readers of older frames and
//! for other processes' writers, and truncates the WAL file to nothing, giving its space back.
//! If it fails because the disk is still full, the batch is refused without running: it would
//! append to the WAL, and as soon as some space is freed it would take that space before the
//! checkpoint got it. If readers kept it from finishing, the batch runs (a long read may last
//! minutes), and the next batch tries again.
//!
//! Durability does not change: a commit is durable once its WAL frames are synced, whoever
//! copies them later; a checkpoint syncs the WAL before it copies and the database file after.

use std::cell::RefCell;
use std::os::raw::c_int;
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use backlog_storage::{Error, ErrorKind};
use rusqlite::hooks::{CheckpointMode, Wal};
use rusqlite::Connection;

use crate::error::is_sqlite_disk_full;

/// New WAL pages after which the writer wakes the checkpointer (SQLite's own automatic
/// checkpoint runs every 1,000 pages).
pub(crate) const TRIGGER_PAGES: c_int = 1_000;

/// WAL pages at which the writer checkpoints itself, so that the WAL starts over, unless the
/// checkpointer is in the middle of a pass (the next commit tries again).
pub(crate) const RESTART_PAGES: c_int = 4_000;

/// WAL pages at which the writer waits for the checkpointer's pass to end, then checkpoints
/// itself: the WAL's bound, give or take one commit.
pub(crate) const LIMIT_PAGES: c_int = 2 * RESTART_PAGES;

/// How long a checkpoint of [`reclaim`] waits for readers of older frames and for other
/// processes' writers, instead of the connection's busy timeout: it runs before every batch
/// until it succeeds, and while it waits it holds the write lock.
pub(crate) const RECLAIM_WAIT: Duration = Duration::from_millis(50);

/// The checkpointer thread, started with its own connection to the database file.
pub(crate) struct Checkpointer {
    poke: SyncSender<()>,
    /// Held by the checkpointer thread during each pass (SQLite's own checkpoint lock makes a
    /// second checkpoint fail at once rather than wait: this one lets the writer wait).
    pass: Arc<Mutex<()>>,
    thread: JoinHandle<()>,
}

/// The writer thread's side: how to wake the checkpointer, and the WAL's size when it last did.
struct Hook {
    poke: SyncSender<()>,
    pass: Arc<Mutex<()>>,
    poked_at: c_int,
    /// Whether a write failed because the disk was full, and no TRUNCATE checkpoint has
    /// succeeded since.
    reclaim: bool,
}

thread_local! {
    /// Set on the writer thread while its connection has [`on_commit`] as WAL hook (a hook is a
    /// plain function: what it needs lives here).
    static HOOK: RefCell<Option<Hook>> = const { RefCell::new(None) };
}

impl Checkpointer {
    /// Starts the thread on `conn`, a connection of its own to the database file.
    pub(crate) fn start(conn: Connection) -> Result<Checkpointer, Error> {
        // One pending wake-up is enough: a checkpoint copies every page committed before it.
        let (poke, pokes) = sync_channel(1);
        let pass = Arc::new(Mutex::new(()));
        let passing = pass.clone();
        let thread = std::thread::Builder::new()
            .name("backlog-sqlite-checkpointer".to_owned())
            .spawn(move || run(&conn, &pokes, &passing))
            .map_err(|e| {
                Error::new(
                    ErrorKind::Unavailable,
                    "could not start the SQLite checkpointer thread",
                )
                .with_source(e)
            })?;
        Ok(Checkpointer { poke, pass, thread })
    }

    /// Makes the calling thread's `writer` connection hand its checkpoints to this thread.
    /// Call on the thread that commits through `writer`, then [`Checkpointer::stop`] there.
    pub(crate) fn attach(&self, writer: &Connection) {
        HOOK.with(|hook| {
            *hook.borrow_mut() = Some(Hook {
                poke: self.poke.clone(),
                pass: self.pass.clone(),
                poked_at: 0,
                reclaim: false,
            });
        });
        // Replaces SQLite's automatic checkpoint, which is itself a WAL hook.
        writer.wal_hook(Some(on_commit));
    }

    /// Detaches the calling thread's writer connection (it goes back to no checkpoints of its
    /// own until closed, when SQLite checkpoints) and waits for the thread to end.
    pub(crate) fn stop(self, writer: &Connection) {
        writer.wal_hook(None);
        HOOK.with(|hook| hook.borrow_mut().take());
        drop(self.poke);
        // A panic there was reported by the panic hook already; the writer has nothing to undo.
        let _ = self.thread.join();
    }
}

/// The writer connection's WAL hook: called after each commit with the WAL's size in pages.
fn on_commit(wal: &Wal, pages: c_int) -> rusqlite::Result<()> {
    HOOK.with(|hook| {
        if let Some(hook) = hook.borrow_mut().as_mut() {
            if pages >= RESTART_PAGES {
                let pass = if pages >= LIMIT_PAGES {
                    Some(hook.pass.lock().unwrap_or_else(PoisonError::into_inner))
                } else {
                    hook.pass.try_lock().ok()
                };
                if pass.is_some() {
                    // No other checkpoint runs: this one copies the last pages, and the next
                    // write transaction starts the WAL over (unless a reader still needs it).
                    // An error here would be reported as the commit's, though the commit has
                    // happened: none is returned.
                    let _ = wal.checkpoint_v2(CheckpointMode::PASSIVE);
                }
                return;
            }
            if pages < hook.poked_at {
                hook.poked_at = 0; // the WAL started over
            }
            if pages - hook.poked_at >= TRIGGER_PAGES {
                hook.poked_at = pages;
                // Full: a checkpoint is already due and will copy these pages too.
                // Disconnected: the thread died (a panic, reported by the panic hook); the
                // writer's own checkpoint at RESTART_PAGES still bounds the WAL.
                let _ = hook.poke.try_send(());
            }
        }
    });
    Ok(())
}

/// Notes, on the writer thread, that a write failed because the disk is full: [`reclaim`]
/// will checkpoint and truncate the WAL.
pub(crate) fn disk_full() {
    HOOK.with(|hook| {
        if let Some(hook) = hook.borrow_mut().as_mut() {
            hook.reclaim = true;
        }
    });
}

/// Called on the writer thread before each batch, outside any transaction. From a write that
/// failed because the disk was full ([`disk_full`]) until a TRUNCATE checkpoint succeeds,
/// runs one: it copies the whole WAL into the database file and truncates the WAL file, so
/// the space the WAL held comes back and the next write starts a fresh WAL. Returns the
/// checkpoint's error if it failed because the disk is still too full for the database file
/// to take the pages: the batch must not run then. One that readers kept from finishing
/// returns `Ok` (tried again before the next batch).
pub(crate) fn reclaim(writer: &Connection) -> rusqlite::Result<()> {
    HOOK.with(|hook| {
        let mut hook = hook.borrow_mut();
        let Some(hook) = hook.as_mut().filter(|hook| hook.reclaim) else {
            return Ok(());
        };
        // SQLite lets one checkpoint run at a time: wait for the checkpointer's pass.
        let _pass = hook.pass.lock().unwrap_or_else(PoisonError::into_inner);
        let configured: Option<u64> = writer
            .query_row("PRAGMA busy_timeout", [], |row| row.get(0))
            .ok();
        let _ = writer.busy_timeout(RECLAIM_WAIT);
        // (busy, WAL frames, frames copied): busy is 1 if readers or a writer kept it from
        // finishing.
        let done = writer.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |row| {
            row.get::<_, i64>(0)
        });
        if let Some(ms) = configured {
            let _ = writer.busy_timeout(Duration::from_millis(ms));
        }
        match done {
            // The WAL starts over; `on_commit` notices it at the next commit.
            Ok(0) => {
                hook.reclaim = false;
                Ok(())
            }
            Err(e) if is_sqlite_disk_full(&e) => Err(e),
            // Busy, or another error: the batch runs and reports its own.
            _ => Ok(()),
        }
    })
}

/// The thread's loop: a PASSIVE checkpoint per wake-up, until the writer detaches.
fn run(conn: &Connection, pokes: &Receiver<()>, pass: &Mutex<()>) {
    while pokes.recv().is_ok() {
        let _pass = pass.lock().unwrap_or_else(PoisonError::into_inner);
        // One that fails is tried again at the next wake-up, and the writer's own at
        // RESTART_PAGES does not depend on this one. (On a full disk neither may come: see
        // `reclaim`.)
        let _ = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::{Path, PathBuf};

    /// A database file of its own in the temp directory, removed on drop.
    struct TempDb(PathBuf);

    impl TempDb {
        fn new(name: &str) -> TempDb {
            let path = std::env::temp_dir().join(format!(
                "backlog-checkpoint-{name}-{}-{:x}.db",
                std::process::id(),
                fastrand::u64(..)
            ));
            TempDb(path)
        }
    }

    impl Drop for TempDb {
        fn drop(&mut self) {
            for suffix in ["", "-wal", "-shm"] {
                let mut file = self.0.as_os_str().to_owned();
                file.push(suffix);
                let _ = std::fs::remove_file(file);
            }
        }
    }

    fn bytes(path: &Path, suffix: &str) -> u64 {
        let mut file = path.as_os_str().to_owned();
        file.push(suffix);
        std::fs::metadata(file).map(|m| m.len()).unwrap_or(0)
    }

    /// A writer in WAL mode with a table of one-page rows, attached to a checkpointer.
    fn setup(path: &Path) -> (Connection, Checkpointer, i64) {
        let writer = Connection::open(path).unwrap();
        writer.pragma_update(None, "journal_mode", "WAL").unwrap();
        writer.execute_batch("CREATE TABLE t (v BLOB)").unwrap();
        let checkpointer = Checkpointer::start(Connection::open(path).unwrap()).unwrap();
        checkpointer.attach(&writer);
        let page = writer
            .pragma_query_value(None, "page_size", |r| r.get(0))
            .unwrap();
        (writer, checkpointer, page)
    }

    /// Commits `commits` transactions of 100 rows of about one page each.
    fn write(writer: &Connection, page: i64, commits: usize, mut each: impl FnMut()) {
        for _ in 0..commits {
            writer.execute_batch("BEGIN").unwrap();
            for _ in 0..100 {
                writer
                    .execute("INSERT INTO t (v) VALUES (zeroblob(?1))", [page - 100])
                    .unwrap();
            }
            writer.execute_batch("COMMIT").unwrap();
            each();
        }
    }

    #[test]
    fn the_checkpointer_copies_the_wal_while_the_writer_goes_on() {
        let db = TempDb::new("copies");
        let (writer, checkpointer, page) = setup(&db.0);
        // About 2,500 pages: below RESTART_PAGES, so the writer never checkpoints itself.
        write(&writer, page, 25, || {});
        // Waits for the thread, which takes a pending wake-up before it ends.
        checkpointer.stop(&writer);
        let copied = bytes(&db.0, "");
        assert!(
            copied >= 2 * TRIGGER_PAGES as u64 * page as u64,
            "the database file holds {copied} bytes: the checkpointer did not copy the WAL"
        );
    }

    #[test]
    fn after_a_full_disk_the_wal_is_truncated_before_the_next_batch() {
        let db = TempDb::new("reclaim");
        let (writer, checkpointer, page) = setup(&db.0);
        write(&writer, page, 3, || {});
        // Nothing failed: nothing to reclaim, the WAL stays as it is.
        reclaim(&writer).unwrap();
        let grown = bytes(&db.0, "-wal");
        assert!(grown > 0, "the WAL is empty after 300 pages");
        // A write failed because the disk was full: the next batch first truncates the WAL.
        disk_full();
        reclaim(&writer).unwrap();
        assert_eq!(bytes(&db.0, "-wal"), 0, "the WAL was not truncated");
        // Once, not before every batch: the WAL grows again.
        write(&writer, page, 1, || {});
        reclaim(&writer).unwrap();
        assert!(bytes(&db.0, "-wal") > 0, "the WAL was truncated again");
        // A reader of older frames keeps the checkpoint from finishing: the batch runs anyway
        // (`Ok`), and the next batch tries again once the reader is gone.
        let reader = Connection::open(&db.0).unwrap();
        reader
            .execute_batch("BEGIN; SELECT count(*) FROM t;")
            .unwrap();
        write(&writer, page, 1, || {});
        disk_full();
        reclaim(&writer).unwrap();
        assert!(
            bytes(&db.0, "-wal") > 0,
            "the WAL was truncated under a reader"
        );
        reader.execute_batch("COMMIT").unwrap();
        reclaim(&writer).unwrap();
        assert_eq!(
            bytes(&db.0, "-wal"),
            0,
            "the WAL was not truncated once the reader left"
        );
        let rows: i64 = writer
            .query_row("SELECT count(*) FROM t", [], |r| r.get(0))
            .unwrap();
        assert_eq!(rows, 500);
        checkpointer.stop(&writer);
    }

    #[test]
    fn the_wal_starts_over_under_a_steady_load() {
        let db = TempDb::new("bounded");
        let (writer, checkpointer, page) = setup(&db.0);
        let mut most = 0;
        // About 5 × RESTART_PAGES pages.
        write(&writer, page, 5 * RESTART_PAGES as usize / 100, || {
            most = most.max(bytes(&db.0, "-wal"));
        });
        checkpointer.stop(&writer);
        // Each frame is a page plus a 24-byte header; a commit may end 200 pages past the mark.
        let bound = (LIMIT_PAGES as u64 + 200) * (page as u64 + 24);
        assert!(
            most <= bound,
            "the WAL grew to {most} bytes (bound {bound})"
        );
    }
}
