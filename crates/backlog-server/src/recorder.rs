//! The recorder: remote workers' outcomes written in batches, each answered with `Recorded`.
//!
//! Outcomes arriving close together (from any number of sessions) go to the database in one
//! `job_finish_many`, fenced on each execution's lease token. The answer per entry:
//!
//! - `applied`: written now;
//! - `already_recorded`: the same execution's outcome was written before — a resend after a
//!   lost `Recorded`. The storage recognises such a resend and does not apply it twice; the
//!   server tells the two apart by remembering the executions it recorded recently (a resend to
//!   another server after a failover is answered `applied`: to the worker both mean "forget it");
//! - `stale`: the execution no longer holds the job; nothing changed.
//!
//! If the database cannot be written, no `Recorded` is sent: the worker keeps the outcome and
//! resends it (docs/protocol.md §8.4), so nothing is lost.

use std::collections::{HashSet, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use backlog_protocol::{encode, LeaseToken, Message, RecordStatus, Recordable, Recorded};
use backlog_storage::{JobFinish, JobFinishManyParams, JobOutcome, JobScheduleParams, Storage};
use backlog_types::JobId;
use tokio::sync::mpsc;

use crate::dispatch::Internal;
use crate::socket::SocketHandle;

/// Most outcomes written in one statement.
const MAX_BATCH: usize = 512;
/// How many recorded executions are remembered to answer resends `already_recorded`.
const REMEMBERED: usize = 65_536;

/// One outcome to write, and whom to answer.
pub(crate) struct Entry {
    pub(crate) finish: JobFinish,
    /// `None` for the server's own give-backs (an undeliverable order).
    pub(crate) reply: Option<(Vec<u8>, Recordable)>,
    /// Reported to the session loop once written (a release frees its slot only then, so the
    /// next claim sees the job back in its place).
    pub(crate) then: Option<Internal>,
}

/// The handle sessions submit outcomes through.
#[derive(Clone)]
pub(crate) struct Recorder {
    tx: mpsc::Sender<Entry>,
}

impl Recorder {
    pub(crate) fn start(
        storage: Arc<dyn Storage>,
        socket: Arc<SocketHandle>,
        internal: mpsc::UnboundedSender<Internal>,
    ) -> Recorder {
        let (tx, rx) = mpsc::channel(4 * MAX_BATCH);
        tokio::spawn(run(storage, socket, internal, rx));
        Recorder { tx }
    }

    /// Queues an outcome. When the queue is full the entry is dropped unanswered and the worker
    /// resends it later (a give-back then waits for the rescuer instead).
    pub(crate) fn submit(&self, entry: Entry) {
        if self.tx.try_send(entry).is_err() {
            tracing::warn!(
                "too many outcomes waiting to be written; one will be resent by its worker"
            );
        }
    }
}

async fn run(
    storage: Arc<dyn Storage>,
    socket: Arc<SocketHandle>,
    internal: mpsc::UnboundedSender<Internal>,
    mut rx: mpsc::Receiver<Entry>,
) {
    let mut remembered = Remembered::default();
    while let Some(first) = rx.recv().await {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(entry) => batch.push(entry),
                Err(_) => break,
            }
        }
        // One entry per execution in a statement; repeats are answered after it.
        let mut seen = HashSet::new();
        let (mut now, mut later): (Vec<Entry>, Vec<Entry>) = batch
            .into_iter()
            .partition(|e| seen.insert((e.finish.id, e.finish.lease_token)));
        let gave_back = now
            .iter()
            .any(|e| matches!(e.finish.outcome, JobOutcome::Snooze { delay } if delay.is_zero()));
        let params = JobFinishManyParams {
            jobs: now.iter().map(|e| e.finish.clone()).collect(),
        };
        let recorded: HashSet<JobId> = match storage.job_finish_many(params).await {
            Ok(ids) => ids.into_iter().collect(),
            Err(error) => {
                tracing::warn!(%error, outcomes = now.len(), "could not record outcomes; workers will resend them");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let mut then = Vec::new();
        for entry in now.iter_mut().chain(later.iter_mut()) {
            then.extend(entry.then.take());
            let key = (entry.finish.id, entry.finish.lease_token);
            let status = if !recorded.contains(&entry.finish.id) {
                RecordStatus::Stale
            } else if remembered.insert(key) {
                RecordStatus::Applied
            } else {
                RecordStatus::AlreadyRecorded
            };
            if let Some((peer, of)) = &entry.reply {
                crate::telemetry::recorded(*of, status);
                let reply = Message::Recorded(Recorded {
                    job_id: entry.finish.id,
                    lease: LeaseToken::from(*entry.finish.lease_token.as_bytes()),
                    of: *of,
                    status,
                    lease_ms: None,
                });
                send(&socket, peer, &reply);
            }
        }
        if gave_back {
            // A given-back job is due at once; make it available now rather than at the
            // scheduler's next pass.
            promote(&*storage, &internal).await;
        }
        for event in then {
            let _ = internal.send(event);
        }
    }
}

/// Makes due jobs available and wakes the dispatcher for their queues.
pub(crate) async fn promote(storage: &dyn Storage, internal: &mpsc::UnboundedSender<Internal>) {
    match storage
        .job_schedule(JobScheduleParams {
            now: None,
            max: 1000,
        })
        .await
    {
        Ok(counts) => {
            for count in counts {
                let _ = internal.send(Internal::Wake {
                    queue: Some(count.queue),
                });
            }
        }
        Err(error) => {
            tracing::debug!(%error, "could not promote given-back jobs; the scheduler will")
        }
    }
}

/// Encodes `message` and queues it for `peer`; a reply that cannot be queued is logged and
/// dropped (the peer resends what it needs).
pub(crate) fn send(socket: &SocketHandle, peer: &[u8], message: &Message) {
    match encode(message) {
        Ok(bytes) => match socket.send(peer, &bytes) {
            Ok(()) => {}
            Err(zmq::Error::ETERM) => {
                tracing::debug!("the server has stopped; a late reply was dropped");
            }
            Err(error) => tracing::warn!(%error, "outbound queue full; a reply was dropped"),
        },
        Err(error) => tracing::error!(%error, "could not encode a reply"),
    }
}

/// A bounded memory of recorded executions, oldest forgotten first.
#[derive(Default)]
struct Remembered {
    set: HashSet<(JobId, backlog_types::LeaseToken)>,
    order: VecDeque<(JobId, backlog_types::LeaseToken)>,
}

impl Remembered {
    /// Whether `key` is new (and now remembered).
    fn insert(&mut self, key: (JobId, backlog_types::LeaseToken)) -> bool {
        if !self.set.insert(key) {
            return false;
        }
        self.order.push_back(key);
        if self.order.len() > REMEMBERED {
            if let Some(old) = self.order.pop_front() {
                self.set.remove(&old);
            }
        }
        true
    }
}
