//! Sessions: `Hello`/`Welcome`, liveness, `Goodbye`, and routing each message to its handler.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use backlog::Client;
use backlog_protocol::{
    decode, ErrorCode, ErrorReply, Goodbye, HeartbeatAck, Hello, Limits, Message, MessageType,
    RejectCode, Rejected, Role, Welcome, DEFAULT_MAX_DEPTH, MAX_ID_BYTES,
};
use tokio::sync::{mpsc, Semaphore};
use tokio_util::sync::CancellationToken;

use crate::dispatch::{Dispatch, Internal, WorkerSlots};
use crate::recorder::Recorder;
use crate::socket::{Inbound, SocketHandle};
use crate::{ServerConfig, ServerHooks};
use backlog_protocol::{Command, Held};
use backlog_storage::Event;

/// A session that ended, handed to [`ServerHooks::session_lost`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct LostSession {
    /// The session's id (as sent in `Welcome`).
    pub session: String,
    /// The ZeroMQ routing id of its connection.
    pub routing_id: Vec<u8>,
    /// Its role.
    pub role: Role,
    /// The worker id from its `Hello`, for workers.
    pub worker_id: Option<String>,
    /// Why it ended.
    pub reason: LostReason,
}

/// Why a session ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum LostReason {
    /// Nothing heard for `missed_heartbeats` heartbeat intervals.
    Silent,
    /// The peer said `Goodbye`.
    Goodbye,
    /// The same connection sent a new `Hello`.
    Replaced,
    /// The server is shutting down.
    Shutdown,
}

/// A message the server could not deliver, handed to [`ServerHooks::unroutable`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Unroutable {
    /// The routing id it was for.
    pub routing_id: Vec<u8>,
    /// The message.
    pub message: Option<Message>,
    /// Whether the peer is gone (`EHOSTUNREACH`); otherwise its pipe was full (`EAGAIN`).
    pub peer_gone: bool,
}

pub(crate) struct Session {
    pub(crate) id: String,
    role: Role,
    worker_id: Option<String>,
    last_seen: Instant,
    /// A worker's slots and outstanding orders.
    pub(crate) worker: Option<WorkerSlots>,
    /// `quiet` or `terminate`, told in every `HeartbeatAck` from now on.
    pub(crate) command: Option<Command>,
}

pub(crate) struct State {
    pub(crate) client: Client,
    pub(crate) config: ServerConfig,
    hooks: ServerHooks,
    pub(crate) socket: Arc<SocketHandle>,
    pub(crate) sessions: HashMap<Vec<u8>, Session>,
    limits: Limits,
    inflight: Arc<Semaphore>,
    pub(crate) server_id: String,
    pub(crate) dispatch: Dispatch,
    pub(crate) recorder: Recorder,
    pub(crate) internal: mpsc::UnboundedSender<Internal>,
    enqueuer: mpsc::Sender<crate::enqueue::Prepared>,
}

/// A command for the worker sessions of one worker id (or all), from [`crate::Server::command`].
#[derive(Debug)]
pub(crate) struct Control {
    pub(crate) worker_id: Option<String>,
    pub(crate) command: Command,
    pub(crate) done: tokio::sync::oneshot::Sender<usize>,
}

/// The session layer's task: runs until `stop`.
pub(crate) async fn run(
    client: Client,
    config: ServerConfig,
    hooks: ServerHooks,
    socket: Arc<SocketHandle>,
    mut inbound: mpsc::Receiver<Inbound>,
    mut control: mpsc::Receiver<Control>,
    stop: CancellationToken,
) {
    let mut sweep = tokio::time::interval(config.heartbeat);
    sweep.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut poll = tokio::time::interval(config.poll_interval);
    poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let storage = client.storage().clone();
    // Subscribed before the first claim, so that no wake-up falls in between.
    let mut events = match storage.event_subscribe().await {
        Ok(events) => Some(events),
        Err(error) => {
            tracing::warn!(%error, "no wake-ups from the database; dispatching on the poll interval only");
            None
        }
    };
    let (internal, mut internal_rx) = mpsc::unbounded_channel();
    let (enqueuer, enqueuer_rx) = mpsc::channel(config.max_inflight_requests.max(1));
    tokio::spawn(crate::enqueue::run(
        client.clone(),
        socket.clone(),
        enqueuer_rx,
        internal.clone(),
        config.lease,
    ));
    let mut state = State {
        enqueuer,
        dispatch: Dispatch::new(storage.clone(), internal.clone(), &config),
        recorder: Recorder::start(storage, socket.clone(), internal.clone()),
        internal,
        limits: Limits {
            max_message_bytes: config.max_message_bytes,
            max_depth: DEFAULT_MAX_DEPTH,
        },
        inflight: Arc::new(Semaphore::new(config.max_inflight_requests)),
        server_id: format!("{}-{:08x}", std::process::id(), fastrand::u32(..)),
        sessions: HashMap::new(),
        client,
        config,
        hooks,
        socket,
    };
    loop {
        tokio::select! {
            _ = stop.cancelled() => break,
            _ = sweep.tick() => state.sweep(),
            _ = poll.tick() => {
                state.dispatch.woken(None);
                state.dispatch();
            }
            Some(event) = internal_rx.recv() => state.internal(event),
            Some(control) = control.recv() => state.control(control),
            event = next_event(&mut events) => state.storage_event(event),
            item = inbound.recv() => match item {
                None => break,
                Some(Inbound::Frame { peer, payload }) => state.handle(peer, &payload),
                Some(Inbound::Multipart { peer, frames }) => state.send_error(
                    &peer,
                    ErrorCode::Malformed,
                    format!("a message is one frame, got {frames}"),
                    None,
                ),
                Some(Inbound::Unroutable { peer, payload, error }) => {
                    let message = decode(&payload, &Limits::default()).ok();
                    tracing::debug!(%error, "could not deliver a message");
                    if let Some(Message::Order(order)) = &message {
                        state.undeliverable_order(&peer, order.job_id, order.lease);
                    }
                    if let Some(hook) = &state.hooks.unroutable {
                        hook(Unroutable {
                            routing_id: peer,
                            message,
                            peer_gone: error == zmq::Error::EHOSTUNREACH,
                        });
                    }
                }
            }
        }
    }
    let bye = Message::Goodbye(Goodbye {
        reason: Some("the server is shutting down".into()),
        reconnect_ms: Some(state.config.heartbeat.as_millis() as u64),
    });
    for (peer, session) in std::mem::take(&mut state.sessions) {
        state.send(&peer, &bye);
        state.lost(peer, session, crate::LostReason::Shutdown);
    }
}

/// The next wake-up from the database; a receiver that fell behind asks for a full pass.
async fn next_event(events: &mut Option<tokio::sync::broadcast::Receiver<Event>>) -> Option<Event> {
    let Some(rx) = events else {
        return std::future::pending().await;
    };
    match rx.recv().await {
        Ok(event) => Some(event),
        Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => Some(Event::Resync),
        Err(tokio::sync::broadcast::error::RecvError::Closed) => {
            *events = None;
            None
        }
    }
}

impl State {
    fn storage_event(&mut self, event: Option<Event>) {
        match event {
            Some(Event::JobAvailable { queue }) | Some(Event::QueueResumed { queue }) => {
                self.dispatch.woken(Some(&queue));
                self.dispatch();
            }
            Some(Event::Resync) => {
                self.dispatch.woken(None);
                self.dispatch();
            }
            Some(Event::CancelRequested { ids }) => self.cancel_requested(&ids),
            _ => {}
        }
    }

    /// `quiet` / `terminate` for the sessions of one worker id, or of every worker.
    fn control(&mut self, control: Control) {
        let mut told = 0;
        for session in self.sessions.values_mut() {
            let Some(w) = session.worker.as_mut() else {
                continue;
            };
            if control
                .worker_id
                .as_ref()
                .is_some_and(|id| *id != w.worker_id)
            {
                continue;
            }
            w.quiet = true;
            // Forward only: terminate overrides quiet, never the other way round.
            if session.command != Some(Command::Terminate) {
                session.command = Some(control.command);
            }
            told += 1;
        }
        let _ = control.done.send(told);
    }

    pub(crate) fn welcome(&self, session: &str, capacity: Option<u32>, lost: Vec<Held>) -> Message {
        Message::Welcome(Welcome {
            session: session.to_owned(),
            server_id: self.server_id.clone(),
            heartbeat_ms: self.config.heartbeat.as_millis() as u64,
            lease_ms: self.config.lease.as_millis() as u64,
            max_message_bytes: self.config.max_message_bytes as u64,
            max_batch: self.config.max_batch,
            capacity,
            lost,
        })
    }

    fn send(&self, peer: &[u8], message: &Message) {
        crate::recorder::send(&self.socket, peer, message);
    }

    fn send_error(&self, peer: &[u8], code: ErrorCode, message: String, re: Option<MessageType>) {
        self.send(
            peer,
            &Message::Error(ErrorReply {
                code,
                message,
                re: re.map(|t| t.as_str().to_owned()),
                supported_versions: Vec::new(),
            }),
        );
    }

    fn lost(&self, peer: Vec<u8>, session: Session, reason: LostReason) {
        tracing::debug!(session = %session.id, ?reason, "session ended");
        if let Some(hook) = &self.hooks.session_lost {
            hook(LostSession {
                session: session.id,
                routing_id: peer,
                role: session.role,
                worker_id: session.worker_id,
                reason,
            });
        }
    }

    fn sweep(&mut self) {
        crate::telemetry::count_sessions(self.sessions.values().map(|s| &s.role));
        let silence = self.config.heartbeat * self.config.missed_heartbeats;
        let now = Instant::now();
        let silent: Vec<Vec<u8>> = self
            .sessions
            .iter()
            .filter(|(_, s)| now.duration_since(s.last_seen) > silence)
            .map(|(peer, _)| peer.clone())
            .collect();
        for peer in silent {
            if let Some(session) = self.sessions.remove(&peer) {
                self.lost(peer, session, LostReason::Silent);
            }
        }
    }

    fn handle(&mut self, peer: Vec<u8>, payload: &[u8]) {
        if let Some(session) = self.sessions.get_mut(&peer) {
            session.last_seen = Instant::now();
        }
        let message = match decode(payload, &self.limits) {
            Ok(message) => message,
            Err(error) => {
                self.send(&peer, &Message::Error(error.to_reply()));
                return;
            }
        };
        let ty = message.message_type();
        if let Message::Hello(hello) = message {
            self.hello(peer, hello);
            return;
        }
        let Some(session) = self.sessions.get(&peer) else {
            if !matches!(ty, MessageType::Goodbye | MessageType::Error) {
                self.send_error(
                    &peer,
                    ErrorCode::NoSession,
                    "no session: send Hello first (or again, after missed heartbeats)".into(),
                    Some(ty),
                );
            }
            return;
        };
        let role = session.role;
        match message {
            Message::Request(request) => self.request(peer, request),
            Message::Heartbeat(heartbeat) if role == Role::Worker => {
                self.worker_heartbeat(peer, heartbeat)
            }
            Message::Completed(m) if role == Role::Worker => self.completed(peer, m),
            Message::Failed(m) if role == Role::Worker => self.failed(peer, m),
            Message::Release(m) if role == Role::Worker => self.release(peer, m),
            Message::Extend(m) if role == Role::Worker => self.extend(peer, m),
            Message::Progress(m) if role == Role::Worker => self.progress(peer, m),
            Message::Heartbeat(_) => self.send(
                &peer,
                &Message::HeartbeatAck(HeartbeatAck {
                    lost: Vec::new(),
                    cancel: Vec::new(),
                    command: None,
                    lease_ms: self.config.lease.as_millis() as u64,
                }),
            ),
            Message::Goodbye(_) => {
                if let Some(session) = self.sessions.remove(&peer) {
                    if let Some(w) = &session.worker {
                        let storage = self.client.storage().clone();
                        let id = w.worker_id.clone();
                        tokio::spawn(async move {
                            if let Err(error) = storage.worker_delete(&id).await {
                                tracing::debug!(%error, "could not unregister a remote worker");
                            }
                        });
                        // Orders it did not answer keep their leases until they run out (the
                        // worker may rejoin through another server and say it holds them).
                        if !w.held.is_empty() {
                            tracing::info!(worker = %w.worker_id, held = w.held.len(), "a worker said Goodbye holding jobs; their leases will run out");
                        }
                    }
                    self.lost(peer, session, LostReason::Goodbye);
                }
            }
            Message::Error(error) => {
                tracing::info!(code = error.code.as_str(), message = %error.message, "a client reported an error");
            }
            _ if role == Role::Producer
                && ty.direction() == backlog_protocol::Direction::ToServer =>
            {
                self.send_error(
                    &peer,
                    ErrorCode::Unexpected,
                    format!("a producer's session may not send {}", ty.as_str()),
                    Some(ty),
                )
            }
            _ if ty.direction() == backlog_protocol::Direction::ToServer => self.send_error(
                &peer,
                ErrorCode::Unexpected,
                format!("{} is not expected from this session", ty.as_str()),
                Some(ty),
            ),
            _ => self.send_error(
                &peer,
                ErrorCode::Unexpected,
                format!("{} is sent by the server, not to it", ty.as_str()),
                Some(ty),
            ),
        }
    }

    fn hello(&mut self, peer: Vec<u8>, hello: Hello) {
        let invalid = |why: &str| Some(why.to_owned());
        let problem = match hello.role {
            Role::Worker if hello.worker_id.as_deref().is_none_or(str::is_empty) => {
                invalid("a worker's Hello needs a worker_id")
            }
            Role::Worker if hello.kinds.is_empty() => invalid("a worker's Hello needs kinds"),
            Role::Worker if hello.queues.is_empty() => invalid("a worker's Hello needs queues"),
            Role::Worker if hello.capacity.unwrap_or(0) == 0 => {
                invalid("a worker's Hello needs a capacity of at least 1")
            }
            _ if hello
                .worker_id
                .as_ref()
                .is_some_and(|w| w.len() > MAX_ID_BYTES) =>
            {
                invalid("worker_id is over 128 bytes")
            }
            _ => None,
        };
        if let Some(problem) = problem {
            self.send_error(&peer, ErrorCode::Invalid, problem, Some(MessageType::Hello));
            return;
        }
        if !self.sessions.contains_key(&peer) && self.sessions.len() >= self.config.max_sessions {
            self.send_error(
                &peer,
                ErrorCode::Overloaded,
                format!(
                    "the server holds its maximum of {} sessions; try again later or another server",
                    self.config.max_sessions
                ),
                Some(MessageType::Hello),
            );
            return;
        }
        let worker = (hello.role == Role::Worker).then(|| {
            let mut kinds = hello.kinds.clone();
            kinds.sort();
            kinds.dedup();
            let mut queues = hello.queues.clone();
            queues.sort();
            queues.dedup();
            WorkerSlots {
                worker_id: hello.worker_id.clone().unwrap_or_default(),
                kinds,
                queues,
                capacity: hello.capacity.unwrap_or(1),
                reserved: 0,
                held: HashMap::new(),
                quiet: false,
                welcomed: hello.holding.is_empty(),
                library: hello.library.clone(),
            }
        });
        let session = Session {
            id: format!("{:016x}", fastrand::u64(..)),
            role: hello.role,
            worker_id: hello.worker_id.clone(),
            last_seen: Instant::now(),
            worker,
            command: None,
        };
        let session_id = session.id.clone();
        let capacity = session.worker.as_ref().map(|w| w.capacity);
        if let Some(old) = self.sessions.insert(peer.clone(), session) {
            self.lost(peer.clone(), old, LostReason::Replaced);
        }
        if hello.role == Role::Worker && !hello.holding.is_empty() {
            // Welcome waits until the database says which of them are still its own.
            self.rejoin(peer, session_id, hello.holding);
            return;
        }
        let welcome = self.welcome(&session_id, capacity, Vec::new());
        self.send(&peer, &welcome);
        self.register(&peer);
        self.dispatch();
    }

    /// Lists a worker session in the worker table (the dashboard's Workers page).
    pub(crate) fn register(&self, peer: &[u8]) {
        let Some(w) = self.sessions.get(peer).and_then(|s| s.worker.as_ref()) else {
            return;
        };
        let report = w.report(&self.server_id);
        let storage = self.client.storage().clone();
        tokio::spawn(async move {
            if let Err(error) = storage.worker_heartbeat(report).await {
                tracing::debug!(%error, "could not register a remote worker");
            }
        });
    }

    /// Reserves a worker's free slots for the jobs of a plain request, to be claimed in the
    /// insert's transaction ([`crate::dispatch::Dispatch::reserve_for_insert`]): when they are
    /// plain jobs of one queue, due now, and some worker of that queue takes all their kinds.
    fn claim_with_insert(&mut self, plan: &crate::enqueue::Plan) -> Option<crate::dispatch::Claim> {
        if !matches!(plan.group, crate::enqueue::Group::None) {
            return None;
        }
        let first = plan.jobs.first()?;
        let plain = plan.jobs.iter().all(|j| {
            j.queue == first.queue
                && j.unique.is_none()
                && j.scheduled_at.is_none()
                && j.run_after.is_none_or(|d| d.is_zero())
        });
        if !plain {
            return None;
        }
        let mut kinds: Vec<&str> = plan.jobs.iter().map(|j| j.kind.as_str()).collect();
        kinds.sort_unstable();
        kinds.dedup();
        let active = self.active();
        let workers = self.sessions.iter_mut().filter_map(|(peer, session)| {
            let id = session.id.as_str();
            session.worker.as_mut().map(|w| (peer, id, w))
        });
        self.dispatch.reserve_for_insert(
            workers,
            active,
            &first.queue,
            &kinds,
            plan.jobs.len() as u32,
        )
    }

    fn request(&mut self, peer: Vec<u8>, request: backlog_protocol::Request) {
        let Ok(permit) = self.inflight.clone().try_acquire_owned() else {
            crate::telemetry::request(false);
            self.send(
                &peer,
                &Message::Rejected(Rejected {
                    request_id: request.request_id,
                    code: RejectCode::Overloaded,
                    message: "too many enqueues in flight; nothing was stored, resend later".into(),
                    index: None,
                    retry_after_ms: Some(100),
                }),
            );
            return;
        };
        match crate::enqueue::prepare(&self.client, &request, self.config.max_batch) {
            Err(rejected) => {
                crate::telemetry::request(false);
                self.send(&peer, &Message::Rejected(rejected));
            }
            Ok(plan) => {
                let claim = self.claim_with_insert(&plan);
                let prepared = crate::enqueue::Prepared {
                    peer,
                    request,
                    jobs: plan.jobs,
                    group: plan.group,
                    permit,
                    claim,
                };
                // The channel holds max_inflight_requests, as many as permits exist.
                if let Err(error) = self.enqueuer.try_send(prepared) {
                    tracing::error!(%error, "the enqueuer stopped; a request was dropped unanswered");
                    let prepared = match error {
                        mpsc::error::TrySendError::Full(p)
                        | mpsc::error::TrySendError::Closed(p) => p,
                    };
                    if let Some(claim) = prepared.claim {
                        if let Some(w) = self.worker_mut(&claim.peer, &claim.session) {
                            w.reserved = w.reserved.saturating_sub(claim.asked);
                        }
                    }
                }
            }
        }
    }
}
