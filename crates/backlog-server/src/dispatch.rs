//! Dispatch: claiming jobs for remote workers and sending them `Order`s.
//!
//! Each worker session has a capacity; its free slots are its capacity minus its outstanding
//! orders (sent, not yet answered nor lost) and the slots reserved by a claim in flight for it.
//! A claim is one `job_fetch_available` for one worker and one of its queues, limited to the
//! worker's kinds and sized to its free slots, recorded under the worker's id. So the queue's
//! cluster-wide settings (pause, `max_running`, rate limit) apply in the database exactly as for
//! in-process workers, and the worker never gets more than it asked for.
//!
//! What starts a claim: a wake-up from the database (`JobAvailable`, `QueueResumed`, `Resync`),
//! a worker's `Hello` or freed slot, or the poll tick. At most one claim per queue is in flight,
//! so idle workers of one queue take turns instead of stampeding. A claim that comes back short
//! marks its `(queue, kinds)` drained until the next wake-up for the queue or the next tick.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use backlog::KindPolicy;
use backlog_protocol::{Held, LeaseToken, Message, Order};

use backlog_storage::{JobFetchAvailableParams, Storage};
use backlog_types::{JobId, JobRow};
use tokio::sync::mpsc;

/// The work side of a worker's session.
pub(crate) struct WorkerSlots {
    pub(crate) worker_id: String,
    /// Sorted, deduplicated.
    pub(crate) kinds: Vec<String>,
    pub(crate) queues: Vec<String>,
    pub(crate) capacity: u32,
    /// Slots promised to a claim in flight.
    pub(crate) reserved: u32,
    /// Outstanding orders.
    pub(crate) held: HashMap<JobId, Holding>,
    /// Set by `quiet`/`terminate` or `Goodbye`: no more orders.
    pub(crate) quiet: bool,
    /// `Welcome` sent: orders may follow.
    pub(crate) welcomed: bool,
    /// The client library named in `Hello` (shown on the dashboard).
    pub(crate) library: Option<String>,
}

impl WorkerSlots {
    /// What the dashboard's worker list shows for this worker.
    pub(crate) fn report(&self, server_id: &str) -> backlog_storage::WorkerHeartbeatParams {
        backlog_storage::WorkerHeartbeatParams {
            id: self.worker_id.clone(),
            host: format!("via server {server_id}"),
            pid: 0,
            kinds: self.kinds.clone(),
            queues: self
                .queues
                .iter()
                .map(|q| (q.clone(), self.capacity))
                .collect(),
            capacity: self.capacity,
            in_flight: self.held.len() as u32,
            origin: match &self.library {
                Some(library) => format!("remote ({library})"),
                None => "remote".into(),
            },
            now: None,
        }
    }
}

impl WorkerSlots {
    pub(crate) fn free(&self) -> u32 {
        self.capacity
            .saturating_sub(self.held.len() as u32)
            .saturating_sub(self.reserved)
    }

    /// The key under which a short claim marks a queue drained for these kinds.
    pub(crate) fn kinds_key(&self) -> String {
        self.kinds.join("\u{1f}")
    }
}

/// One outstanding order: what is needed to record its outcome without reading the job.
#[derive(Debug, Clone)]
pub(crate) struct Holding {
    pub(crate) lease: backlog_types::LeaseToken,
    pub(crate) facts: RetryFacts,
    pub(crate) sent_at: Instant,
}

/// The facts a `Failed { action: retry }` needs.
#[derive(Debug, Clone)]
pub(crate) struct RetryFacts {
    pub(crate) attempt: i32,
    pub(crate) max_attempts: i32,
    /// The delay if this attempt fails and is retried (the job's backoff, else the kind's).
    pub(crate) delay: Duration,
    /// Whether `delay` is the job's own backoff (given at enqueue), which wins over the delay
    /// a worker asks for.
    pub(crate) own: bool,
}

impl RetryFacts {
    pub(crate) fn of(row: &JobRow, policy: &KindPolicy) -> RetryFacts {
        RetryFacts {
            attempt: row.attempt,
            max_attempts: row.max_attempts,
            delay: policy.retry_delay(row),
            own: row.backoff.is_some(),
        }
    }

    /// The delay of a retry the worker asked for with `asked` (its own backoff, if any).
    pub(crate) fn retry_delay(&self, asked: Option<Duration>) -> Duration {
        match asked {
            Some(asked) if !self.own => asked,
            _ => self.delay,
        }
    }
}

/// What async work reports back to the session loop.
pub(crate) enum Internal {
    /// A claim made for a worker came back.
    Claimed {
        peer: Vec<u8>,
        session: String,
        queue: String,
        kinds_key: String,
        asked: u32,
        result: Result<Vec<JobRow>, backlog_storage::Error>,
        /// Made by the enqueuer with an insert, not by the dispatcher: the queue's claim
        /// bookkeeping (one in flight, drained marks) is not its own.
        with_insert: bool,
    },
    /// The database says this worker no longer holds these jobs.
    Lost {
        peer: Vec<u8>,
        session: String,
        jobs: Vec<JobId>,
    },
    /// A worker's `Hello` listed jobs it holds; these are still its own, the rest were lost.
    Rejoined {
        peer: Vec<u8>,
        session: String,
        kept: Vec<(Held, Option<RetryFacts>)>,
        lost: Vec<Held>,
    },
    /// Jobs were given back or promoted: claim again.
    Wake { queue: Option<String> },
}

/// The dispatcher's own state, owned by the session loop.
pub(crate) struct Dispatch {
    storage: Arc<dyn Storage>,
    internal: mpsc::UnboundedSender<Internal>,
    /// Queues with a claim in flight.
    fetching: HashSet<String>,
    /// `(queue, kinds key)` pairs whose last claim came back short.
    drained: HashSet<(String, String)>,
    /// Queues woken while a claim was in flight: that claim's answer may predate the new jobs,
    /// so a short answer does not drain them.
    woken_in_flight: HashSet<String>,

    pub(crate) lease: Duration,
    pub(crate) max_batch: u32,
    pub(crate) max_active: Option<u32>,
    pub(crate) policy: KindPolicy,
    pub(crate) kind_policies: Arc<HashMap<String, KindPolicy>>,
}

/// A claim to start: made by [`Dispatch::plan`], run by [`Dispatch::spawn`] (or by the
/// enqueuer with an insert: [`Dispatch::reserve_for_insert`]).
#[derive(Clone)]
pub(crate) struct Claim {
    pub(crate) peer: Vec<u8>,
    pub(crate) session: String,
    pub(crate) worker_id: String,
    pub(crate) queue: String,
    pub(crate) kinds: Vec<String>,
    pub(crate) kinds_key: String,
    pub(crate) asked: u32,
}

impl Claim {
    /// The claim's statement parameters.
    pub(crate) fn params(&self, lease: Duration) -> JobFetchAvailableParams {
        JobFetchAvailableParams {
            queue: self.queue.clone(),
            max: self.asked,
            worker_id: self.worker_id.clone(),
            lease,
            now: None,
            kinds: self.kinds.clone(),
        }
    }

    /// What reports the claim's answer to the session loop.
    pub(crate) fn answered(
        self,
        result: Result<Vec<JobRow>, backlog_storage::Error>,
        with_insert: bool,
    ) -> Internal {
        Internal::Claimed {
            peer: self.peer,
            session: self.session,
            queue: self.queue,
            kinds_key: self.kinds_key,
            asked: self.asked,
            result,
            with_insert,
        }
    }
}

impl Dispatch {
    pub(crate) fn new(
        storage: Arc<dyn Storage>,
        internal: mpsc::UnboundedSender<Internal>,
        config: &crate::ServerConfig,
    ) -> Dispatch {
        Dispatch {
            storage,
            internal,
            fetching: HashSet::new(),
            drained: HashSet::new(),
            woken_in_flight: HashSet::new(),
            lease: config.lease,
            max_batch: config.max_batch,
            max_active: config.max_active,
            policy: config.policy.clone(),
            kind_policies: Arc::new(config.kind_policies.clone()),
        }
    }

    /// The policy of `kind`.
    pub(crate) fn policy_of(&self, kind: &str) -> &KindPolicy {
        self.kind_policies.get(kind).unwrap_or(&self.policy)
    }

    /// A wake-up for `queue` (or every queue): its drained marks no longer hold.
    pub(crate) fn woken(&mut self, queue: Option<&str>) {
        match queue {
            None => {
                self.drained.clear();
                self.woken_in_flight.extend(self.fetching.iter().cloned());
            }
            Some(queue) => {
                self.drained.retain(|(q, _)| q != queue);
                if self.fetching.contains(queue) {
                    self.woken_in_flight.insert(queue.to_owned());
                }
            }
        }
    }

    /// Chooses the claims to start now, reserving the workers' slots for them. `active` is the
    /// number of orders outstanding or reserved over all sessions.
    pub(crate) fn plan<'a>(
        &mut self,
        workers: impl Iterator<Item = (&'a Vec<u8>, &'a str, &'a mut WorkerSlots)>,
        mut active: u32,
    ) -> Vec<Claim> {
        let mut claims = Vec::new();
        // Emptiest workers first, so that work spreads over them.
        let mut ready: Vec<_> = workers
            .filter(|(_, _, w)| w.welcomed && !w.quiet && w.free() > 0)
            .collect();
        ready.sort_by_key(|(_, _, w)| std::cmp::Reverse(w.free()));
        for (peer, session, worker) in ready {
            let kinds_key = worker.kinds_key();
            for queue in worker.queues.clone() {
                let mut free = worker.free().min(self.max_batch);
                if let Some(max) = self.max_active {
                    free = free.min(max.saturating_sub(active));
                }
                if free == 0 {
                    break;
                }
                if self.fetching.contains(&queue)
                    || self.drained.contains(&(queue.clone(), kinds_key.clone()))
                {
                    continue;
                }
                self.fetching.insert(queue.clone());
                worker.reserved += free;
                active += free;
                claims.push(Claim {
                    peer: peer.clone(),
                    session: session.to_owned(),
                    worker_id: worker.worker_id.clone(),
                    queue,
                    kinds: worker.kinds.clone(),
                    kinds_key: kinds_key.clone(),
                    asked: free,
                });
            }
        }
        claims
    }

    /// A claim made with the insert of a request's jobs (issue #7): if a worker serving `queue`
    /// and every one of `kinds` has free slots, up to `jobs` of them are reserved for it and the
    /// enqueuer claims in the insert's own transaction
    /// ([`Client::insert_prepared_and_fetch`](backlog::Client::insert_prepared_and_fetch)),
    /// whose answer comes back as [`Internal::Claimed`] with `with_insert`. The jobs then start
    /// without waiting for the insert's wake-up and a claim of the dispatcher's own.
    pub(crate) fn reserve_for_insert<'a>(
        &mut self,
        workers: impl Iterator<Item = (&'a Vec<u8>, &'a str, &'a mut WorkerSlots)>,
        active: u32,
        queue: &str,
        kinds: &[&str],
        jobs: u32,
    ) -> Option<Claim> {
        let (peer, session, worker) = workers
            .filter(|(_, _, w)| {
                w.welcomed
                    && !w.quiet
                    && w.free() > 0
                    && w.queues.iter().any(|q| q == queue)
                    && kinds
                        .iter()
                        .all(|k| w.kinds.binary_search_by(|x| x.as_str().cmp(k)).is_ok())
            })
            // The first eligible worker in a stable order rather than the emptiest: requests
            // arriving together then claim for one worker and share a statement.
            .min_by(|(_, a, _), (_, b, _)| a.cmp(b))?;
        let mut asked = worker.free().min(jobs).min(self.max_batch);
        if let Some(max) = self.max_active {
            asked = asked.min(max.saturating_sub(active));
        }
        if asked == 0 {
            return None;
        }
        worker.reserved += asked;
        Some(Claim {
            peer: peer.clone(),
            session: session.to_owned(),
            worker_id: worker.worker_id.clone(),
            queue: queue.to_owned(),
            kinds: worker.kinds.clone(),
            kinds_key: worker.kinds_key(),
            asked,
        })
    }

    /// Runs a claim; its answer comes back as [`Internal::Claimed`].
    pub(crate) fn spawn(&self, claim: Claim) {
        let storage = self.storage.clone();
        let internal = self.internal.clone();
        let params = claim.params(self.lease);
        tokio::spawn(async move {
            let result = storage.job_fetch_available(params).await;
            let _ = internal.send(claim.answered(result, false));
        });
    }

    /// A claim came back: the queue may be claimed from again; a short answer drains it.
    pub(crate) fn claimed(&mut self, queue: &str, kinds_key: &str, asked: u32, got: Option<usize>) {
        self.fetching.remove(queue);
        if self.woken_in_flight.remove(queue) {
            return;
        }
        match got {
            Some(got) if (got as u32) < asked => {
                self.drained
                    .insert((queue.to_owned(), kinds_key.to_owned()));
            }
            Some(_) => {}
            // A failed claim: wait for the tick rather than retry at once against a failing
            // database.
            None => {
                self.drained
                    .insert((queue.to_owned(), kinds_key.to_owned()));
            }
        }
    }
}

/// The `Order` for a claimed row.
pub(crate) fn order(
    row: &JobRow,
    lease: LeaseToken,
    policy: &KindPolicy,
    lease_ms: u64,
) -> Message {
    Message::Order(Order {
        job_id: row.id,
        lease,
        kind: row.kind.clone(),
        queue: row.queue.clone(),
        args: row.args.clone(),
        attempt: row.attempt,
        max_attempts: row.max_attempts,
        priority: row.priority,
        lease_ms,
        timeout_ms: policy
            .timeout_of(row)
            .map(|t| t.as_millis().min(u128::from(u64::MAX)) as u64),
        created_at_ms: row.created_at.timestamp_millis(),
        tags: row.tags.clone(),
        metadata: (!row.metadata.is_null()
            && row.metadata.as_object().is_none_or(|o| !o.is_empty()))
        .then(|| row.metadata.clone()),
        username: row
            .metadata
            .get("username")
            .and_then(|u| u.as_str())
            .map(str::to_owned),
        uuid: row
            .metadata
            .get("uuid")
            .and_then(|u| u.as_str())
            .and_then(parse_uuid),
    })
}

/// jobq's asset uuid, kept in the metadata in its hyphenated form by the producer side.
fn parse_uuid(text: &str) -> Option<backlog_protocol::Uuid> {
    let hex: String = text.chars().filter(|c| *c != '-').collect();
    if hex.len() != 32 {
        return None;
    }
    let mut bytes = [0u8; 16];
    for (i, byte) in bytes.iter_mut().enumerate() {
        *byte = u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(backlog_protocol::Uuid::from(bytes))
}
