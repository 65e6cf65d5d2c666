//! A worker's messages: `Heartbeat`, `Extend`, `Progress`, `Completed`, `Failed`, `Release`;
//! and what the dispatcher's async work reports back (claims, lost leases, rejoins).
//!
//! Every write is fenced on `(job id, lease token)` in the database, so none of these handlers
//! trusts the session: a worker may report through any server, and a stale report changes
//! nothing.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use backlog_protocol::{
    Cancel, Completed, ErrorInfo, Extend, FailAction, Failed, Heartbeat, HeartbeatAck, Held,
    LeaseToken, Message, Progress, RecordStatus, Recordable, Recorded, Release,
};
use backlog_storage::{
    Failure, JobFinish, JobHeartbeatManyParams, JobOutcome, JobProgressSetParams,
};
use backlog_types::{JobId, JobRow};

use crate::dispatch::{order, Holding, Internal, RetryFacts};
use crate::recorder::{send, Entry};
use crate::session::State;

/// The longest lease a worker may ask for with `Extend`.
const MAX_EXTEND: Duration = Duration::from_secs(24 * 3600);

pub(crate) fn stored(lease: LeaseToken) -> backlog_types::LeaseToken {
    backlog_types::LeaseToken::from_bytes(*lease.as_bytes())
}

pub(crate) fn wire(lease: backlog_types::LeaseToken) -> LeaseToken {
    LeaseToken::from(*lease.as_bytes())
}

impl State {
    /// Starts the claims the workers' free slots allow.
    pub(crate) fn dispatch(&mut self) {
        let active = self.active();
        let workers = self.sessions.iter_mut().filter_map(|(peer, session)| {
            let id = session.id.as_str();
            session.worker.as_mut().map(|w| (peer, id, w))
        });
        let claims = self.dispatch.plan(workers, active);
        crate::telemetry::outstanding(active);
        for claim in claims {
            self.dispatch.spawn(claim);
        }
    }

    /// Orders outstanding or reserved over all sessions (what `max_active` limits).
    pub(crate) fn active(&self) -> u32 {
        self.sessions
            .values()
            .filter_map(|s| s.worker.as_ref())
            .map(|w| w.held.len() as u32 + w.reserved)
            .sum()
    }

    /// What the dispatcher's async work reported.
    pub(crate) fn internal(&mut self, event: Internal) {
        match event {
            Internal::Claimed {
                peer,
                session,
                queue,
                kinds_key,
                asked,
                result,
                with_insert,
            } => {
                if !with_insert {
                    let got = result.as_ref().ok().map(Vec::len);
                    self.dispatch.claimed(&queue, &kinds_key, asked, got);
                }
                let rows = match result {
                    Ok(rows) => rows,
                    Err(error) => {
                        tracing::warn!(%queue, %error, "could not claim jobs for a remote worker");
                        if let Some(w) = self.worker_mut(&peer, &session) {
                            w.reserved = w.reserved.saturating_sub(asked);
                        }
                        return;
                    }
                };
                self.deliver(&peer, &session, asked, rows);
                self.dispatch();
            }
            Internal::Lost {
                peer,
                session,
                jobs,
            } => {
                if let Some(w) = self.worker_mut(&peer, &session) {
                    for id in jobs {
                        w.held.remove(&id);
                    }
                }
                self.dispatch();
            }
            Internal::Rejoined {
                peer,
                session,
                kept,
                lost,
            } => {
                let Some(w) = self.worker_mut(&peer, &session) else {
                    return;
                };
                for (held, facts) in kept {
                    w.held.insert(
                        held.job_id,
                        Holding {
                            lease: stored(held.lease),
                            facts: facts.unwrap_or(RetryFacts {
                                attempt: 0,
                                max_attempts: 0,
                                delay: Duration::ZERO,
                                own: false,
                            }),
                            sent_at: Instant::now(),
                        },
                    );
                }
                w.welcomed = true;
                let capacity = w.capacity;
                let welcome = self.welcome(&session, Some(capacity), lost);
                send(&self.socket, &peer, &welcome);
                self.register(&peer);
                self.dispatch();
            }
            Internal::Wake { queue } => {
                self.dispatch.woken(queue.as_deref());
                self.dispatch();
            }
        }
    }

    pub(crate) fn worker_mut(
        &mut self,
        peer: &[u8],
        session: &str,
    ) -> Option<&mut crate::dispatch::WorkerSlots> {
        self.sessions
            .get_mut(peer)
            .filter(|s| s.id == session)
            .and_then(|s| s.worker.as_mut())
    }

    /// Sends the claimed rows as orders; rows that cannot be sent are given back at once.
    fn deliver(&mut self, peer: &[u8], session: &str, asked: u32, rows: Vec<JobRow>) {
        let lease_ms = self.config.lease.as_millis() as u64;
        let mut give_back = Vec::new();
        let mut expired = Vec::new();
        let mut messages = Vec::new();
        let dispatch = &self.dispatch;
        let worker = self
            .sessions
            .get_mut(peer)
            .filter(|s| s.id == session)
            .and_then(|s| s.worker.as_mut());
        match worker {
            Some(w) => {
                w.reserved = w.reserved.saturating_sub(asked);
                for row in rows {
                    let Some(lease) = row.lease_token else {
                        tracing::error!(
                            job.id = row.id,
                            "claimed job has no lease token; leaving it to the rescuer"
                        );
                        continue;
                    };
                    if w.quiet {
                        give_back.push((row.id, lease));
                        continue;
                    }
                    // Claimed after its expiry time: discarded, never sent.
                    if let Some(outcome) = backlog::policy::expired(&row) {
                        expired.push(JobFinish {
                            id: row.id,
                            lease_token: lease,
                            outcome,
                            duration: Duration::ZERO,
                            result: None,
                        });
                        continue;
                    }
                    let policy = dispatch.policy_of(&row.kind);
                    backlog::telemetry::started(&row);
                    crate::telemetry::ordered(&row.queue, &row.kind);
                    messages.push((row.id, lease, order(&row, wire(lease), policy, lease_ms)));
                    w.held.insert(
                        row.id,
                        Holding {
                            lease,
                            facts: RetryFacts::of(&row, policy),
                            sent_at: Instant::now(),
                        },
                    );
                }
            }
            // The session ended while the claim was in flight.
            None => give_back.extend(rows.iter().filter_map(|r| Some((r.id, r.lease_token?)))),
        }
        for (id, lease, message) in messages {
            let delivered = backlog_protocol::encode(&message)
                .map_err(|e| e.to_string())
                .and_then(|bytes| self.socket.send(peer, &bytes).map_err(|e| e.to_string()));
            if let Err(error) = delivered {
                tracing::warn!(job.id = id, %error, "could not queue an order; giving the job back");
                if let Some(w) = self.worker_mut(peer, session) {
                    w.held.remove(&id);
                }
                give_back.push((id, lease));
            }
        }
        for (id, lease) in give_back {
            self.give_back(id, lease);
        }
        for finish in expired {
            self.recorder.submit(Entry {
                finish,
                reply: None,
                then: None,
            });
        }
    }

    /// Hands a job back without spending its attempt; it keeps its place in the run order.
    pub(crate) fn give_back(&self, id: JobId, lease: backlog_types::LeaseToken) {
        crate::telemetry::given_back();
        self.recorder.submit(Entry {
            finish: JobFinish {
                id,
                lease_token: lease,
                outcome: JobOutcome::Snooze {
                    delay: Duration::ZERO,
                },
                duration: Duration::ZERO,
                result: None,
            },
            reply: None,
            then: None,
        });
    }

    /// An order ZeroMQ could not deliver (the peer is gone or its pipe is full).
    pub(crate) fn undeliverable_order(&mut self, peer: &[u8], job_id: JobId, lease: LeaseToken) {
        let lease = stored(lease);
        if let Some(session) = self.sessions.get_mut(peer) {
            if let Some(w) = session.worker.as_mut() {
                if w.held.get(&job_id).is_some_and(|h| h.lease == lease) {
                    w.held.remove(&job_id);
                }
            }
        }
        tracing::info!(
            job.id = job_id,
            "an order could not be delivered; the job was given back"
        );
        self.give_back(job_id, lease);
    }

    /// `Heartbeat` from a worker: renews its leases, reports lost ones and cancellations.
    pub(crate) fn worker_heartbeat(&mut self, peer: Vec<u8>, heartbeat: Heartbeat) {
        let Some(session) = self.sessions.get_mut(&peer) else {
            return;
        };
        let session_id = session.id.clone();
        let command = session.command;
        let Some(w) = session.worker.as_mut() else {
            return;
        };
        if let Some(capacity) = heartbeat.capacity {
            w.capacity = capacity;
        }
        // An order sent more than a heartbeat ago that the worker does not list was lost on the
        // way (or forgotten): its slot is freed, and its lease runs out for the rescuer.
        let listed: HashSet<JobId> = heartbeat.held.iter().map(|h| h.job_id).collect();
        let cutoff = self.config.heartbeat;
        w.held
            .retain(|id, h| listed.contains(id) || h.sent_at.elapsed() < cutoff);
        let report = w.report(&self.server_id);
        let storage = self.client.storage().clone();
        let socket = self.socket.clone();
        let internal = self.internal.clone();
        let lease = self.config.lease;
        let held = heartbeat.held;
        tokio::spawn(async move {
            // Listed on the dashboard's Workers page like in-process runners.
            if let Err(error) = storage.worker_heartbeat(report).await {
                tracing::debug!(%error, "could not register a remote worker");
            }
            let (lost, cancel) = if held.is_empty() {
                (Vec::new(), Vec::new())
            } else {
                match storage
                    .job_heartbeat_many(JobHeartbeatManyParams {
                        jobs: held.iter().map(|h| (h.job_id, stored(h.lease))).collect(),
                        lease,
                    })
                    .await
                {
                    Ok(result) => (result.lost, result.cancel_requested),
                    Err(error) => {
                        tracing::warn!(%error, "could not renew a remote worker's leases");
                        (Vec::new(), Vec::new())
                    }
                }
            };
            let lost: Vec<Held> = held
                .iter()
                .filter(|h| lost.contains(&h.job_id))
                .copied()
                .collect();
            send(
                &socket,
                &peer,
                &Message::HeartbeatAck(HeartbeatAck {
                    lost: lost.clone(),
                    cancel,
                    command,
                    lease_ms: lease.as_millis() as u64,
                }),
            );
            if !lost.is_empty() {
                let _ = internal.send(Internal::Lost {
                    peer,
                    session: session_id,
                    jobs: lost.iter().map(|h| h.job_id).collect(),
                });
            }
        });
        self.dispatch();
    }

    /// `Extend`: renews one lease for longer.
    pub(crate) fn extend(&self, peer: Vec<u8>, extend: Extend) {
        let storage = self.client.storage().clone();
        let socket = self.socket.clone();
        let lease = Duration::from_millis(extend.lease_ms).clamp(self.config.lease, MAX_EXTEND);
        tokio::spawn(async move {
            let renewed = storage
                .job_heartbeat_many(JobHeartbeatManyParams {
                    jobs: vec![(extend.job_id, stored(extend.lease))],
                    lease,
                })
                .await;
            let status = match renewed {
                Ok(result) if result.lost.is_empty() => RecordStatus::Applied,
                Ok(_) => RecordStatus::Stale,
                Err(error) => {
                    tracing::warn!(%error, "could not extend a lease; the worker will ask again");
                    return;
                }
            };
            crate::telemetry::recorded(Recordable::Extend, status);
            send(
                &socket,
                &peer,
                &Message::Recorded(Recorded {
                    job_id: extend.job_id,
                    lease: extend.lease,
                    of: Recordable::Extend,
                    status,
                    lease_ms: (status == RecordStatus::Applied).then_some(lease.as_millis() as u64),
                }),
            );
        });
    }

    /// `Progress`: stored if the execution still holds the job.
    pub(crate) fn progress(&self, peer: Vec<u8>, progress: Progress) {
        let storage = self.client.storage().clone();
        let socket = self.socket.clone();
        tokio::spawn(async move {
            let set = storage
                .job_progress_set(JobProgressSetParams {
                    id: progress.job_id,
                    lease_token: stored(progress.lease),
                    progress: progress.progress,
                })
                .await;
            let status = match set {
                Ok(true) => RecordStatus::Applied,
                Ok(false) => RecordStatus::Stale,
                Err(error) => {
                    tracing::warn!(%error, "could not store progress; the worker will resend it");
                    return;
                }
            };
            crate::telemetry::recorded(Recordable::Progress, status);
            send(
                &socket,
                &peer,
                &Message::Recorded(Recorded {
                    job_id: progress.job_id,
                    lease: progress.lease,
                    of: Recordable::Progress,
                    status,
                    lease_ms: None,
                }),
            );
        });
    }

    /// Frees the order's slot (when it is this session's) and returns what is known of it.
    fn answered(&mut self, peer: &[u8], job_id: JobId, lease: LeaseToken) -> Option<RetryFacts> {
        let lease = stored(lease);
        let w = self.sessions.get_mut(peer)?.worker.as_mut()?;
        match w.held.get(&job_id) {
            Some(h) if h.lease == lease => w.held.remove(&job_id).map(|h| h.facts),
            _ => None,
        }
    }

    /// `Completed`.
    pub(crate) fn completed(&mut self, peer: Vec<u8>, completed: Completed) {
        self.answered(&peer, completed.job_id, completed.lease);
        self.recorder.submit(Entry {
            finish: JobFinish {
                id: completed.job_id,
                lease_token: stored(completed.lease),
                outcome: JobOutcome::Completed,
                duration: Duration::from_micros(completed.duration_us),
                result: completed.result,
            },
            reply: Some((peer, Recordable::Completed)),
            then: None,
        });
        self.dispatch();
    }

    /// `Release`: handed back unstarted, no attempt spent, its place kept.
    pub(crate) fn release(&mut self, peer: Vec<u8>, release: Release) {
        // The slot stays taken until the job is back in the database: freed now, the next
        // claim could run before the write and pass the released job over.
        let then = self.sessions.get(&peer).and_then(|s| {
            let w = s.worker.as_ref()?;
            (w.held.get(&release.job_id)?.lease == stored(release.lease)).then(|| Internal::Lost {
                peer: peer.clone(),
                session: s.id.clone(),
                jobs: vec![release.job_id],
            })
        });
        self.recorder.submit(Entry {
            finish: JobFinish {
                id: release.job_id,
                lease_token: stored(release.lease),
                outcome: JobOutcome::Snooze {
                    delay: Duration::ZERO,
                },
                duration: Duration::ZERO,
                result: None,
            },
            reply: Some((peer, Recordable::Release)),
            then,
        });
    }

    /// `Failed`: mapped onto retry / discard / snooze / cancel (docs/protocol.md §8.3).
    pub(crate) fn failed(&mut self, peer: Vec<u8>, failed: Failed) {
        let facts = self.answered(&peer, failed.job_id, failed.lease);
        let failure = failure(failed.error.clone());
        let delay = failed.delay_ms.map(Duration::from_millis);
        let finish = |outcome| JobFinish {
            id: failed.job_id,
            lease_token: stored(failed.lease),
            outcome,
            duration: Duration::from_micros(failed.duration_us),
            result: None,
        };
        let reply = Some((peer, Recordable::Failed));
        let outcome = match failed.action {
            FailAction::Discard => JobOutcome::Discard { failure },
            FailAction::Cancel => JobOutcome::Cancel { failure },
            FailAction::Snooze => JobOutcome::Snooze {
                delay: delay.unwrap_or_default(),
            },
            FailAction::Retry => match facts {
                Some(facts) if facts.max_attempts > 0 => backlog::policy::retry_or_discard(
                    facts.attempt,
                    facts.max_attempts,
                    failure,
                    || facts.retry_delay(delay),
                ),
                // Not an order of this session (a resend after a failover or a restart): the
                // job is read to decide.
                _ => {
                    let storage = self.client.storage().clone();
                    let recorder = self.recorder.clone();
                    let dispatch_policy = self.dispatch.policy.clone();
                    let kind_policies = self.dispatch.kind_policies.clone();
                    let entry = finish(JobOutcome::Completed);
                    tokio::spawn(async move {
                        let row = match storage.job_get(entry.id).await {
                            Ok(Some(row)) => row,
                            Ok(None) => {
                                // Gone (purged): the fenced write reports it stale.
                                return recorder.submit(Entry {
                                    finish: JobFinish {
                                        outcome: JobOutcome::Discard { failure },
                                        ..entry
                                    },
                                    reply,
                                    then: None,
                                });
                            }
                            Err(error) => {
                                tracing::warn!(%error, "could not read a failed job; the worker will resend");
                                return;
                            }
                        };
                        let policy = kind_policies.get(&row.kind).unwrap_or(&dispatch_policy);
                        let outcome = policy.retry_or_discard(&row, failure, delay);
                        recorder.submit(Entry {
                            finish: JobFinish { outcome, ..entry },
                            reply,
                            then: None,
                        });
                    });
                    self.dispatch();
                    return;
                }
            },
            // No other action exists in this protocol version; an unknown one is retried, the
            // safe default.
            _ => JobOutcome::Retry {
                failure,
                delay: delay.unwrap_or(Duration::from_secs(1)),
            },
        };
        self.recorder.submit(Entry {
            finish: finish(outcome),
            reply,
            then: None,
        });
        self.dispatch();
    }

    /// Cancellation of running jobs was requested: tell the sessions holding them.
    pub(crate) fn cancel_requested(&self, ids: &[JobId]) {
        for (peer, session) in &self.sessions {
            let Some(w) = &session.worker else { continue };
            let jobs: Vec<Held> = ids
                .iter()
                .filter_map(|id| {
                    w.held.get(id).map(|h| Held {
                        job_id: *id,
                        lease: wire(h.lease),
                    })
                })
                .collect();
            if !jobs.is_empty() {
                send(&self.socket, peer, &Message::Cancel(Cancel { jobs }));
            }
        }
    }

    /// A worker's `Hello` listing jobs it holds: checked against the database before `Welcome`.
    pub(crate) fn rejoin(&self, peer: Vec<u8>, session: String, holding: Vec<Held>) {
        let storage = self.client.storage().clone();
        let internal = self.internal.clone();
        let lease = self.config.lease;
        let dispatch_policy = self.dispatch.policy.clone();
        let kind_policies = self.dispatch.kind_policies.clone();
        tokio::spawn(async move {
            let lost: Vec<JobId> = match storage
                .job_heartbeat_many(JobHeartbeatManyParams {
                    jobs: holding
                        .iter()
                        .map(|h| (h.job_id, stored(h.lease)))
                        .collect(),
                    lease,
                })
                .await
            {
                Ok(result) => result.lost,
                Err(error) => {
                    // Unknown: keep them counted; the next heartbeat tells.
                    tracing::warn!(%error, "could not check the jobs a rejoining worker holds");
                    Vec::new()
                }
            };
            let mut kept = Vec::new();
            let mut gone = Vec::new();
            for held in holding {
                if lost.contains(&held.job_id) {
                    gone.push(held);
                    continue;
                }
                let facts = match storage.job_get(held.job_id).await {
                    Ok(Some(row)) => Some(RetryFacts::of(
                        &row,
                        kind_policies.get(&row.kind).unwrap_or(&dispatch_policy),
                    )),
                    _ => None,
                };
                kept.push((held, facts));
            }
            let _ = internal.send(Internal::Rejoined {
                peer,
                session,
                kept,
                lost: gone,
            });
        });
    }
}

/// The failure stored for a `Failed`: kind, message and backtrace (each kept apart in the
/// attempt's error record), within the protocol's limits.
fn failure(error: Option<ErrorInfo>) -> Failure {
    let Some(error) = error.map(ErrorInfo::truncated) else {
        return Failure::error("the worker reported a failure without an error");
    };
    Failure {
        message: error.message,
        panicked: error.panicked,
        kind: error.kind.filter(|k| !k.is_empty()),
        backtrace: error.backtrace.filter(|b| !b.is_empty()),
    }
}
