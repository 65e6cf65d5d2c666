//! The writer thread: the one connection that writes, with group commit.
//!
//! SQLite allows one writer at a time, and with `synchronous=FULL` every commit costs an fsync.
//! Instead of letting many connections fight over the write lock, every write of a
//! [`SqliteStorage`](crate::SqliteStorage) is sent to one dedicated OS thread that owns the write
//! connection. The thread blocks for the first request, then drains whatever else is already
//! queued (up to [`MAX_BATCH`]) and runs the whole batch in ONE `BEGIN IMMEDIATE … COMMIT`
//! transaction:
//!
//! - each request runs inside its own `SAVEPOINT`, so a request that fails is rolled back alone
//!   and gets its own error while the others of the batch commit;
//! - replies are sent only after `COMMIT` succeeded, so a caller that got `Ok` knows its write is
//!   durable; if `COMMIT` (or `BEGIN`) fails, every request of the batch gets that error;
//! - after a write failed because the disk is full, each batch first checkpoints and truncates
//!   the WAL, and is refused with the disk-full error if that fails for want of space (see
//!   `checkpoint.rs`).
//!
//! Sixteen concurrent single-job enqueues therefore cost one fsync, not sixteen. The request
//! channel is bounded ([`QUEUE_CAPACITY`]), so callers wait (asynchronously) when the writer
//! falls behind. The thread ends once every sender is gone: when the last handle of the storage
//! is dropped or [`Writer::shutdown`] is called.

use std::panic::AssertUnwindSafe;
use std::sync::{Mutex, PoisonError};
use std::thread::JoinHandle;

use backlog_storage::{Error, ErrorKind};
use rusqlite::{Connection, Transaction, TransactionBehavior};
use tokio::sync::{mpsc, oneshot};

use crate::checkpoint::{self, Checkpointer};
use crate::error::{copy, from_sqlite, is_disk_full, writer_stopped};
use crate::sql;

/// Most requests committed by one transaction.
pub(crate) const MAX_BATCH: usize = 512;

/// Requests that may wait for the writer before callers are made to wait.
pub(crate) const QUEUE_CAPACITY: usize = 1024;

/// A unit of work for the writer thread, type-erased so one channel carries every kind.
trait Request: Send {
    /// Runs the work inside the batch transaction; returns whether it succeeded.
    fn execute(&mut self, tx: &Transaction<'_>) -> bool;
    /// Sends the result once the batch is over; `batch` is the outcome of the COMMIT.
    fn reply(self: Box<Self>, batch: Result<(), &Error>);
    /// Whether the commit must reach the disk before the caller is answered.
    fn durable(&self) -> bool;
    /// Whether the work failed because the disk is full.
    fn failed_on_full_disk(&self) -> bool;
}

struct Pending<F, R> {
    durable: bool,
    work: Option<F>,
    outcome: Option<Result<R, Error>>,
    reply: oneshot::Sender<Result<R, Error>>,
}

impl<F, R> Request for Pending<F, R>
where
    F: FnOnce(&Transaction<'_>) -> Result<R, Error> + Send,
    R: Send,
{
    fn execute(&mut self, tx: &Transaction<'_>) -> bool {
        let Some(work) = self.work.take() else {
            return false;
        };
        if self.reply.is_closed() {
            // The caller gave up (its future was dropped): don't claim jobs nobody will run.
            self.outcome = Some(Err(Error::new(
                ErrorKind::Database,
                "the caller stopped waiting before the write ran",
            )));
            return false;
        }
        // A panicking request is rolled back alone instead of taking the writer thread down;
        // its savepoint is rolled back, so no half-done state survives (hence AssertUnwindSafe).
        let outcome =
            std::panic::catch_unwind(AssertUnwindSafe(|| work(tx))).unwrap_or_else(|_| {
                Err(Error::new(
                    ErrorKind::Database,
                    "a SQLite write request panicked in the writer thread",
                ))
            });
        let ok = outcome.is_ok();
        self.outcome = Some(outcome);
        ok
    }

    fn reply(self: Box<Self>, batch: Result<(), &Error>) {
        let result = match (self.outcome, batch) {
            // The request's own failure explains more than the batch's.
            (Some(Err(own)), _) => Err(own),
            (Some(Ok(value)), Ok(())) => Ok(value),
            (_, Err(batch)) => Err(copy(batch)),
            (None, Ok(())) => Err(Error::new(
                ErrorKind::Database,
                "the writer did not run the request",
            )),
        };
        // The caller may have given up waiting; nothing to do then.
        let _ = self.reply.send(result);
    }

    fn durable(&self) -> bool {
        self.durable
    }

    fn failed_on_full_disk(&self) -> bool {
        matches!(&self.outcome, Some(Err(e)) if is_disk_full(e))
    }
}

/// The handle to the writer thread.
pub(crate) struct Writer {
    sender: Mutex<Option<mpsc::Sender<Box<dyn Request>>>>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl Writer {
    /// Starts the writer thread on `conn`, and the checkpointer thread on `checkpoints` (a
    /// second connection to the same file, see `checkpoint.rs`).
    pub(crate) fn start(mut conn: Connection, checkpoints: Connection) -> Result<Writer, Error> {
        let checkpointer = Checkpointer::start(checkpoints)?;
        let (sender, receiver) = mpsc::channel(QUEUE_CAPACITY);
        let thread = std::thread::Builder::new()
            .name("backlog-sqlite-writer".to_owned())
            .spawn(move || {
                checkpointer.attach(&conn);
                run(&mut conn, receiver);
                checkpointer.stop(&conn);
            })
            .map_err(|e| {
                Error::new(
                    ErrorKind::Unavailable,
                    "could not start the SQLite writer thread",
                )
                .with_source(e)
            })?;
        Ok(Writer {
            sender: Mutex::new(Some(sender)),
            thread: Mutex::new(Some(thread)),
        })
    }

    /// Runs `work` in the writer's next transaction and returns its result once committed
    /// durably (at the configured `synchronous` level).
    pub(crate) async fn run<F, R>(&self, work: F) -> Result<R, Error>
    where
        F: FnOnce(&Transaction<'_>) -> Result<R, Error> + Send + 'static,
        R: Send + 'static,
    {
        self.submit(work, true).await
    }

    /// Like [`Writer::run`] for writes that need not survive a power loss (claims and lease
    /// renewals: losing one just makes the job available again). A batch made only of such
    /// writes commits without syncing the WAL; the next durable commit syncs it anyway.
    pub(crate) async fn run_relaxed<F, R>(&self, work: F) -> Result<R, Error>
    where
        F: FnOnce(&Transaction<'_>) -> Result<R, Error> + Send + 'static,
        R: Send + 'static,
    {
        self.submit(work, false).await
    }

    async fn submit<F, R>(&self, work: F, durable: bool) -> Result<R, Error>
    where
        F: FnOnce(&Transaction<'_>) -> Result<R, Error> + Send + 'static,
        R: Send + 'static,
    {
        self.send(work, durable).await?.await
    }

    /// Queues `work` for the writer's next transaction (committed durably if `durable`, as
    /// [`Writer::run`] does, else as [`Writer::run_relaxed`]) and returns once it is queued,
    /// with the future of its result: the caller may go on working (feeding `work` through a
    /// channel, say) while the writer runs it. The writer thread waits for whatever `work`
    /// waits for, so `work` must only wait for what the caller sends at once.
    pub(crate) async fn send<F, R>(
        &self,
        work: F,
        durable: bool,
    ) -> Result<impl std::future::Future<Output = Result<R, Error>>, Error>
    where
        F: FnOnce(&Transaction<'_>) -> Result<R, Error> + Send + 'static,
        R: Send + 'static,
    {
        let sender = self
            .sender
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
            .ok_or_else(writer_stopped)?;
        let (reply, receiver) = oneshot::channel();
        let request = Pending {
            durable,
            work: Some(work),
            outcome: None,
            reply,
        };
        sender
            .send(Box::new(request))
            .await
            .map_err(|_| writer_stopped())?;
        drop(sender);
        Ok(async move { receiver.await.map_err(|_| writer_stopped())? })
    }

    /// Stops accepting requests, lets the thread finish the queued ones and waits for it.
    /// Blocks the calling thread; idempotent.
    pub(crate) fn shutdown(&self) -> Result<(), Error> {
        drop(
            self.sender
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .take(),
        );
        let thread = self
            .thread
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        match thread {
            // Never join from the writer thread itself (it would wait for itself).
            Some(thread) if thread.thread().id() != std::thread::current().id() => thread
                .join()
                .map_err(|_| Error::new(ErrorKind::Database, "the SQLite writer thread panicked")),
            _ => Ok(()),
        }
    }
}

/// The thread's loop: one batch per iteration until every sender is gone.
fn run(conn: &mut Connection, mut receiver: mpsc::Receiver<Box<dyn Request>>) {
    let mut batch: Vec<Box<dyn Request>> = Vec::with_capacity(MAX_BATCH);
    // `synchronous` as configured: 2 is FULL. Only then do relaxed batches have a lower level
    // (NORMAL: in WAL mode, no sync at commit) to switch to.
    let configured: i64 = conn
        .pragma_query_value(None, "synchronous", |row| row.get(0))
        .unwrap_or(2);
    let mut relaxed = false;
    while let Some(first) = receiver.blocking_recv() {
        batch.push(first);
        while batch.len() < MAX_BATCH {
            match receiver.try_recv() {
                Ok(request) => batch.push(request),
                Err(_) => break,
            }
        }
        let want_relaxed = configured == 2 && !batch.iter().any(|r| r.durable());
        if want_relaxed != relaxed {
            let level = if want_relaxed { "NORMAL" } else { "FULL" };
            // If switching fails, the level stays as it was: at worst a relaxed batch is
            // synced, never a durable one left unsynced (FULL is restored before any).
            if conn.pragma_update(None, "synchronous", level).is_ok() {
                relaxed = want_relaxed;
            }
        }
        // After a full disk, the WAL must give its space back first (see `checkpoint.rs`).
        let outcome = if let Err(full) = checkpoint::reclaim(conn) {
            Err(from_sqlite(full))
        } else if relaxed && batch.iter().any(|r| r.durable()) {
            Err(Error::new(
                ErrorKind::Database,
                "could not restore synchronous=FULL",
            ))
        } else {
            commit_batch(conn, &mut batch)
        };
        if outcome.as_ref().is_err_and(is_disk_full)
            || batch.iter().any(|r| r.failed_on_full_disk())
        {
            checkpoint::disk_full();
        }
        for request in batch.drain(..) {
            request.reply(outcome.as_ref().map(|_| ()));
        }
    }
}

/// Runs every request of `batch` in one transaction, each in its own savepoint.
fn commit_batch(conn: &mut Connection, batch: &mut [Box<dyn Request>]) -> Result<(), Error> {
    let tx = Transaction::new(conn, TransactionBehavior::Immediate).map_err(from_sqlite)?;
    if let [request] = batch {
        // Alone in its batch, a request needs no savepoint: if it fails, the whole transaction
        // is rolled back. Savepoints make SQLite journal every page a statement touches.
        return if request.execute(&tx) {
            tx.commit().map_err(from_sqlite)
        } else {
            tx.rollback().map_err(from_sqlite)
        };
    }
    for request in batch.iter_mut() {
        // Cached statements: `execute_batch` would parse the savepoint SQL again for every
        // request of every batch.
        savepoint(&tx, sql::WRITER_SAVEPOINT)?;
        if !request.execute(&tx) {
            savepoint(&tx, sql::WRITER_ROLLBACK_TO)?;
        }
        // If this fails, the error aborted the whole transaction: the batch fails as a whole.
        savepoint(&tx, sql::WRITER_RELEASE)?;
    }
    tx.commit().map_err(from_sqlite)
}

/// Runs one of the writer's savepoint statements, prepared once per connection.
fn savepoint(tx: &Transaction<'_>, statement: &str) -> Result<(), Error> {
    tx.prepare_cached(statement)
        .and_then(|mut s| s.execute([]))
        .map(|_| ())
        .map_err(from_sqlite)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A request that inserts one row of `value` into `t` (which only accepts positive values).
    fn insert(value: i64) -> (Box<dyn Request>, oneshot::Receiver<Result<usize, Error>>) {
        let (reply, receiver) = oneshot::channel();
        let work = move |tx: &Transaction<'_>| {
            tx.execute("INSERT INTO t (v) VALUES (?1)", [value])
                .map_err(from_sqlite)
        };
        let request = Pending {
            durable: true,
            work: Some(work),
            outcome: None,
            reply,
        };
        (Box::new(request), receiver)
    }

    #[test]
    fn one_failing_request_rolls_back_alone() {
        let mut conn = Connection::open_in_memory().unwrap();
        conn.execute_batch("CREATE TABLE t (v INTEGER CHECK (v > 0))")
            .unwrap();
        let (mut batch, mut replies): (Vec<_>, Vec<_>) =
            [1, 2, -3, 4].into_iter().map(insert).unzip();

        let outcome = commit_batch(&mut conn, &mut batch);
        assert!(outcome.is_ok());
        for request in batch {
            request.reply(outcome.as_ref().map(|_| ()));
        }

        let results: Vec<_> = replies.iter_mut().map(|r| r.try_recv().unwrap()).collect();
        assert!(results[0].is_ok() && results[1].is_ok() && results[3].is_ok());
        let err = results[2].as_ref().unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput);
        let rows: i64 = conn
            .query_row("SELECT sum(v) FROM t", [], |row| row.get(0))
            .unwrap();
        assert_eq!(rows, 7);
    }

    #[test]
    fn a_panicking_request_fails_alone() {
        let mut conn = Connection::open_in_memory().unwrap();
        conn.execute_batch("CREATE TABLE t (v INTEGER CHECK (v > 0))")
            .unwrap();
        let (reply, mut panicked) = oneshot::channel::<Result<(), Error>>();
        let boom = Pending {
            durable: true,
            work: Some(|_: &Transaction<'_>| -> Result<(), Error> { panic!("boom") }),
            outcome: None,
            reply,
        };
        let (ok, mut ok_reply) = insert(5);
        let mut batch: Vec<Box<dyn Request>> = vec![Box::new(boom), ok];
        let outcome = commit_batch(&mut conn, &mut batch);
        assert!(outcome.is_ok());
        for request in batch {
            request.reply(outcome.as_ref().map(|_| ()));
        }
        assert!(panicked.try_recv().unwrap().is_err());
        assert_eq!(ok_reply.try_recv().unwrap().unwrap(), 1);
    }

    #[test]
    fn a_failed_commit_fails_every_request() {
        let (request, mut receiver) = insert(1);
        request.reply(Err(&Error::new(ErrorKind::Unavailable, "disk gone")));
        let err = receiver.try_recv().unwrap().unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Unavailable);
    }
}
