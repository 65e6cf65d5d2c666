//! Wake-ups for inserts made through the pool, sent after the insert committed.
//!
//! Why not `pg_notify` inside the insert's own transaction (as the transactional enqueue does)?
//! PostgreSQL serializes the commits of notifying transactions: the notify queue's lock is held
//! from pre-commit until the commit record is flushed, so each enqueue's fsync waits for the
//! previous one's. Measured here with 16 concurrent single-row inserts: 5,200 commits/s without
//! notify, 570/s with it. So pooled inserts commit without notifying, then hand their queue names
//! to this task, which sends them — deduplicated, in one statement — on a dedicated connection
//! with `synchronous_commit = off` (a notification is a hint, not data: nothing to make durable).
//! Under load many inserts share one notification. Subscribers in this process are woken
//! directly, without the round trip.
//!
//! Notifications are best effort: if the connection fails they are dropped and producers fall
//! back to polling, which is also what covers a lost notification. A process about to exit calls
//! [`PgStorage::flush_wakeups`] (the CLI does once every command is done), which waits
//! until what was queued so far has been sent: otherwise its last wake-ups die with it.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use backlog_storage::Event;
use tokio::sync::mpsc;
use tokio_postgres::NoTls;

use crate::PgStorage;

const SQL: &str = include_str!("../sql/wakeup_send.sql");
const SESSION: &str = include_str!("../sql/wakeup_session.sql");
const PID: &str = include_str!("../sql/wakeup_pid.sql");
/// Queue names waiting to be sent; beyond this, wake-ups are dropped (producers poll).
const CAPACITY: usize = 4096;
/// The longest [`PgStorage::flush_wakeups`] waits.
const FLUSH_TIMEOUT: Duration = Duration::from_secs(3);

/// What the wake-up task is asked to do.
pub(crate) enum Wakeup {
    /// Wake the workers of this queue.
    Queue(String),
    /// Answer once everything queued before has been sent (or could not be).
    Flush(tokio::sync::oneshot::Sender<()>),
}

impl PgStorage {
    /// Wakes the workers of `queues`: those of this process at once, the others through
    /// `NOTIFY` shortly after.
    pub(crate) fn wake(&self, queues: Vec<String>) {
        if queues.is_empty() {
            return;
        }
        if let Some(sender) = self.inner.events.get() {
            for queue in &queues {
                let _ = sender.send(Event::JobAvailable {
                    queue: queue.clone(),
                });
            }
        }
        let sender = self.inner.wakeups.get_or_init(|| {
            let (sender, receiver) = mpsc::channel(CAPACITY);
            tokio::spawn(run(
                self.inner.pg_config.clone(),
                self.inner.channel.clone(),
                receiver,
                self.inner.wakeup_pid.clone(),
            ));
            sender
        });
        for queue in queues {
            // A full channel means a flood of inserts: wake-ups are already on their way.
            let _ = sender.try_send(Wakeup::Queue(queue));
        }
    }

    /// Waits until the wake-ups queued so far have been sent (see the module docs), at most
    /// a few seconds.
    pub(crate) async fn flush_wakeups_impl(&self) {
        let Some(sender) = self.inner.wakeups.get() else {
            return; // nothing was ever queued
        };
        let (done, answered) = tokio::sync::oneshot::channel();
        let flush = async {
            if sender.send(Wakeup::Flush(done)).await.is_ok() {
                let _ = answered.await;
            }
        };
        let _ = tokio::time::timeout(FLUSH_TIMEOUT, flush).await;
    }
}

async fn run(
    config: tokio_postgres::Config,
    channel: String,
    mut receiver: mpsc::Receiver<Wakeup>,
    pid: Arc<AtomicI32>,
) {
    // The connection, with the statement prepared on it once: a statement given as text would
    // be parsed again, and cost a round trip of its own, at every send.
    let mut client: Option<(tokio_postgres::Client, tokio_postgres::Statement)> = None;
    loop {
        // Ends once the storage is dropped (its sender with it) and every wake-up queued
        // before has been taken: the last inserts of a storage dropped right after them
        // still wake the workers (a process that keeps running after dropping its storage,
        // or one that calls `flush_wakeups`, loses none).
        let Some(first) = receiver.recv().await else {
            return;
        };
        let mut queues = BTreeSet::new();
        let mut flushes = Vec::new();
        let mut take = |wakeup: Wakeup| match wakeup {
            Wakeup::Queue(queue) => {
                queues.insert(queue);
            }
            Wakeup::Flush(done) => flushes.push(done),
        };
        take(first);
        while let Ok(wakeup) = receiver.try_recv() {
            take(wakeup);
        }
        if queues.is_empty() {
            // Only flushes: everything before them was sent by earlier rounds.
            flushes.into_iter().for_each(|done| {
                let _ = done.send(());
            });
            continue;
        }
        if client.as_ref().is_none_or(|(c, _)| c.is_closed()) {
            client = match connect(&config).await {
                Some(c) => match c.prepare(SQL).await {
                    Ok(statement) => Some((c, statement)),
                    Err(error) => {
                        tracing::debug!(%error, "could not prepare wake-ups; workers will poll");
                        None
                    }
                },
                None => None,
            };
            let backend = match &client {
                Some((c, _)) => c
                    .query_one(PID, &[])
                    .await
                    .ok()
                    .and_then(|r| r.try_get(0).ok()),
                None => None,
            };
            pid.store(backend.unwrap_or(0), Ordering::Relaxed);
        }
        if let Some((c, statement)) = &client {
            let queues: Vec<String> = queues.into_iter().collect();
            if let Err(error) = c.query(statement, &[&channel, &queues]).await {
                tracing::debug!(%error, "could not send wake-ups; workers will poll");
                client = None;
            }
        }
        // Sent, or could not be: either way nothing more will come of them.
        flushes.into_iter().for_each(|done| {
            let _ = done.send(());
        });
    }
}

async fn connect(config: &tokio_postgres::Config) -> Option<tokio_postgres::Client> {
    let connected = tokio::time::timeout(Duration::from_secs(5), config.connect(NoTls)).await;
    let (client, connection) = match connected {
        Ok(Ok(pair)) => pair,
        Ok(Err(error)) => {
            tracing::debug!(%error, "wake-up connection failed; workers will poll");
            return None;
        }
        Err(_) => return None,
    };
    tokio::spawn(async move {
        let _ = connection.await;
    });
    client.batch_execute(SESSION).await.ok().map(|()| client)
}
