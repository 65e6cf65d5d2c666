//! [`RemoteWorker`]: runs orders from a server with registered [`Workers`].

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use backlog::remote::{RemoteAction, RemoteOrder, RemoteOutcome};
use backlog::Workers;
use backlog_protocol::{
    decode, Command, Completed, ErrorCode, ErrorInfo, FailAction, Failed, Goodbye, Heartbeat, Held,
    Hello, LeaseToken, Limits, Message, Order, Progress, Recordable, Release, Role,
};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::link::Link;
use crate::{Curve, RemoteError};

type Key = (i64, LeaseToken);

/// Settings of a [`RemoteWorker`]; see [`RemoteWorker::builder`].
#[derive(Debug, Clone)]
pub struct RemoteWorkerBuilder {
    endpoints: Vec<String>,
    worker_id: Option<String>,
    queues: Vec<String>,
    capacity: u32,
    grace: Duration,
    curve: Option<Curve>,
    max_result_bytes: usize,
}

impl RemoteWorkerBuilder {
    /// The id the server records in the jobs' `attempted_by` and lists on the dashboard
    /// (default: `rust-<host>-<pid>-<random>`). Unique per process.
    pub fn worker_id(mut self, id: impl Into<String>) -> Self {
        self.worker_id = Some(id.into());
        self
    }

    /// The queues to take work from (default `["default"]`).
    pub fn queues<Q: Into<String>>(mut self, queues: impl IntoIterator<Item = Q>) -> Self {
        self.queues = queues.into_iter().map(Into::into).collect();
        self
    }

    /// Jobs run at once (default 10); the server never sends more.
    pub fn capacity(mut self, capacity: u32) -> Self {
        self.capacity = capacity;
        self
    }

    /// How long shutdown waits for running jobs before releasing them (default 30 s).
    pub fn grace(mut self, grace: Duration) -> Self {
        self.grace = grace;
        self
    }

    /// Encrypts the connections with CURVE.
    pub fn curve(mut self, curve: Curve) -> Self {
        self.curve = Some(curve);
        self
    }

    /// Largest result a job may set (default 64 KiB).
    pub fn max_result_bytes(mut self, bytes: usize) -> Self {
        self.max_result_bytes = bytes;
        self
    }

    /// Connects to the first endpoint and starts taking orders for `workers`' kinds. Must be
    /// called inside a tokio runtime.
    pub fn start(self, workers: Workers) -> Result<RemoteWorker, RemoteError> {
        if self.endpoints.is_empty() {
            return Err(RemoteError::NoEndpoint);
        }
        if self.capacity == 0 {
            return Err(RemoteError::Config("capacity must be at least 1".into()));
        }
        if self.queues.is_empty() {
            return Err(RemoteError::Config("give at least one queue".into()));
        }
        let kinds: Vec<String> = workers.kinds().into_iter().map(str::to_owned).collect();
        if kinds.is_empty() {
            return Err(RemoteError::Config(
                "register at least one worker before starting".into(),
            ));
        }
        let worker_id = self.worker_id.clone().unwrap_or_else(|| {
            format!(
                "rust-{}-{}-{:06x}",
                std::env::var("HOSTNAME").unwrap_or_else(|_| "host".into()),
                std::process::id(),
                fastrand::u32(..0x0100_0000)
            )
        });
        let ctx = zmq::Context::new();
        let link = Link::connect(&ctx, &self.endpoints[0], self.curve.as_ref())?;
        let stop = CancellationToken::new();
        let stats = Arc::new(Counters::default());
        let (outcomes_tx, outcomes) = mpsc::unbounded_channel();
        let (progress_tx, progress) = mpsc::unbounded_channel();
        let state = State {
            settings: self,
            worker_id: worker_id.clone(),
            kinds,
            workers: Arc::new(workers),
            ctx,
            link,
            endpoint: 0,
            heartbeat: Duration::from_secs(5),
            welcomed: false,
            last_heard: Instant::now(),
            running: HashMap::new(),
            pending: HashMap::new(),
            quiet: false,
            terminated: false,
            stats: stats.clone(),
            outcomes_tx,
            progress_tx,
        };
        let task = tokio::spawn(state.run(outcomes, progress, stop.clone()));
        Ok(RemoteWorker {
            worker_id,
            stop,
            task,
            stats,
        })
    }
}

/// A worker process's connection to Backlog servers; see the [crate docs](crate).
#[derive(Debug)]
pub struct RemoteWorker {
    worker_id: String,
    stop: CancellationToken,
    task: JoinHandle<()>,
    stats: Arc<Counters>,
}

/// What a [`RemoteWorker`] did so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RemoteWorkerStats {
    /// Orders received and started.
    pub orders: u64,
    /// Outcomes the server recorded (applied or already recorded).
    pub recorded: u64,
    /// Outcomes the server answered `stale` (the execution had lost the job).
    pub stale: u64,
    /// Jobs stopped because the server said their lease was lost.
    pub lost: u64,
    /// Times it connected to a server after the first.
    pub reconnects: u64,
    /// Jobs handed back unfinished (shutdown, terminate, over capacity).
    pub released: u64,
}

#[derive(Debug, Default)]
struct Counters {
    /// Outcomes the server answered (recorded or stale): what `RemoteWorker::answered` waits on.
    answered: tokio::sync::watch::Sender<u64>,
    orders: AtomicU64,
    recorded: AtomicU64,
    stale: AtomicU64,
    lost: AtomicU64,
    reconnects: AtomicU64,
    released: AtomicU64,
}

impl Counters {
    fn snapshot(&self) -> RemoteWorkerStats {
        RemoteWorkerStats {
            orders: self.orders.load(Ordering::Relaxed),
            recorded: self.recorded.load(Ordering::Relaxed),
            stale: self.stale.load(Ordering::Relaxed),
            lost: self.lost.load(Ordering::Relaxed),
            reconnects: self.reconnects.load(Ordering::Relaxed),
            released: self.released.load(Ordering::Relaxed),
        }
    }
}

impl RemoteWorker {
    /// Settings for a worker connecting to `endpoints` (the first, then the next when a server
    /// goes away).
    pub fn builder<E: Into<String>>(endpoints: impl IntoIterator<Item = E>) -> RemoteWorkerBuilder {
        RemoteWorkerBuilder {
            endpoints: endpoints.into_iter().map(Into::into).collect(),
            worker_id: None,
            queues: vec!["default".into()],
            capacity: 10,
            grace: Duration::from_secs(30),
            curve: None,
            max_result_bytes: 64 * 1024,
        }
    }

    /// Its worker id.
    pub fn worker_id(&self) -> &str {
        &self.worker_id
    }

    /// What it did so far.
    pub fn stats(&self) -> RemoteWorkerStats {
        self.stats.snapshot()
    }

    /// Waits until the server has answered at least `n` of this worker's outcomes (recorded or
    /// stale) since it started — e.g. to know a batch of jobs is done without polling the
    /// database.
    pub async fn answered(&self, n: u64) {
        let mut answered = self.stats.answered.subscribe();
        // The sender lives as long as `self`, so this ends only when `n` is reached.
        let _ = answered.wait_for(|count| *count >= n).await;
    }

    /// Stops gracefully: takes no more orders, lets running jobs finish within the grace
    /// period, releases the rest, waits (bounded) for the server's answers, says `Goodbye`.
    pub async fn shutdown(self) -> RemoteWorkerStats {
        self.stop.cancel();
        let _ = self.task.await;
        self.stats.snapshot()
    }

    /// Runs until `signal` completes (e.g. Ctrl-C or SIGTERM), then shuts down gracefully.
    pub async fn run_until(self, signal: impl Future<Output = ()>) -> RemoteWorkerStats {
        signal.await;
        self.shutdown().await
    }
}

struct Running {
    cancel: CancellationToken,
    handle: JoinHandle<()>,
    started: Instant,
    /// The server said the lease is lost: the outcome is dropped.
    lost: bool,
}

struct Pending {
    message: Message,
    sent_at: Instant,
}

struct Finished {
    key: Key,
    outcome: RemoteOutcome,
}

struct State {
    settings: RemoteWorkerBuilder,
    worker_id: String,
    kinds: Vec<String>,
    workers: Arc<Workers>,
    ctx: zmq::Context,
    link: Link,
    endpoint: usize,
    heartbeat: Duration,
    welcomed: bool,
    last_heard: Instant,
    running: HashMap<Key, Running>,
    pending: HashMap<Key, Pending>,
    quiet: bool,
    /// The server said `terminate`: what is held was released; leave.
    terminated: bool,
    stats: Arc<Counters>,
    outcomes_tx: mpsc::UnboundedSender<Finished>,
    progress_tx: mpsc::UnboundedSender<(Key, serde_json::Value)>,
}

impl State {
    async fn run(
        mut self,
        mut outcomes: mpsc::UnboundedReceiver<Finished>,
        mut progress: mpsc::UnboundedReceiver<(Key, serde_json::Value)>,
        stop: CancellationToken,
    ) {
        self.hello();
        let mut tick = tokio::time::interval(Duration::from_millis(100));
        let mut next_beat = Instant::now() + self.heartbeat;
        loop {
            tokio::select! {
                _ = stop.cancelled() => break,
                bytes = self.link.inbound.recv() => match bytes {
                    Some(bytes) => self.receive(&bytes),
                    None => self.switch("the connection's thread stopped"),
                },
                Some(finished) = outcomes.recv() => self.finished(finished),
                Some((key, value)) = progress.recv() => self.progress(key, value),
                _ = tick.tick() => {
                    if Instant::now() >= next_beat {
                        next_beat = Instant::now() + self.heartbeat;
                        self.beat();
                    }
                }
            }
            if self.terminated {
                break;
            }
        }
        self.drain(&mut outcomes).await;
    }

    fn send(&self, message: &Message) {
        if let Err(error) = self.link.send(message) {
            tracing::debug!(%error, "could not queue a message; it is resent if it matters");
        }
    }

    fn hello(&mut self) {
        self.welcomed = false;
        self.last_heard = Instant::now();
        let holding = self.held();
        self.send(&Message::Hello(Hello {
            role: Role::Worker,
            worker_id: Some(self.worker_id.clone()),
            kinds: self.kinds.clone(),
            queues: self.settings.queues.clone(),
            capacity: Some(if self.quiet {
                0
            } else {
                self.settings.capacity
            }),
            holding,
            token: None,
            library: Some(concat!("backlog-remote/", env!("CARGO_PKG_VERSION")).into()),
        }));
    }

    /// Moves to the next endpoint (or reconnects to the only one) and says what it holds.
    fn switch(&mut self, why: &str) {
        let next = (self.endpoint + 1) % self.settings.endpoints.len();
        let endpoint = self.settings.endpoints[next].clone();
        tracing::info!(%why, %endpoint, "connecting to the next server");
        match Link::connect(&self.ctx, &endpoint, self.settings.curve.as_ref()) {
            Ok(link) => {
                self.link = link;
                self.endpoint = next;
                self.stats.reconnects.fetch_add(1, Ordering::Relaxed);
                self.hello();
            }
            Err(error) => tracing::warn!(%error, %endpoint, "could not connect"),
        }
    }

    fn receive(&mut self, bytes: &[u8]) {
        self.last_heard = Instant::now();
        let message = match decode(bytes, &Limits::default()) {
            Ok(message) => message,
            Err(error) => {
                tracing::warn!(%error, "undecodable message from the server");
                return;
            }
        };
        match message {
            Message::Welcome(welcome) => {
                self.welcomed = true;
                self.heartbeat = Duration::from_millis(welcome.heartbeat_ms.max(10));
                for held in welcome.lost {
                    self.lose((held.job_id, held.lease));
                }
                self.resend(Duration::ZERO);
            }
            Message::Order(order) => self.order(order),
            Message::HeartbeatAck(ack) => {
                for held in ack.lost {
                    self.lose((held.job_id, held.lease));
                }
                for id in ack.cancel {
                    self.cancel_job(id);
                }
                match ack.command {
                    Some(Command::Terminate) => self.terminate(),
                    Some(_) => self.quiet = true,
                    None => {}
                }
            }
            Message::Cancel(cancel) => {
                for held in cancel.jobs {
                    if let Some(r) = self.running.get(&(held.job_id, held.lease)) {
                        r.cancel.cancel();
                    }
                }
            }
            // Answers to progress and extensions share the key of the execution; only an
            // outcome's answer settles the outcome waiting to be confirmed.
            Message::Recorded(recorded)
                if matches!(
                    recorded.of,
                    Recordable::Completed | Recordable::Failed | Recordable::Release
                ) =>
            {
                let key = (recorded.job_id, recorded.lease);
                if self.pending.remove(&key).is_some() {
                    match recorded.status {
                        backlog_protocol::RecordStatus::Stale => {
                            self.stats.stale.fetch_add(1, Ordering::Relaxed)
                        }
                        _ => self.stats.recorded.fetch_add(1, Ordering::Relaxed),
                    };
                    self.stats.answered.send_modify(|n| *n += 1);
                }
            }
            Message::Goodbye(_) => self.switch("the server said Goodbye"),
            Message::Error(error) if error.code == ErrorCode::NoSession => self.hello(),
            Message::Error(error) => {
                tracing::warn!(code = error.code.as_str(), message = %error.message, "the server reported an error");
            }
            _ => {}
        }
    }

    fn order(&mut self, order: Order) {
        let key = (order.job_id, order.lease);
        if self.running.contains_key(&key) || self.pending.contains_key(&key) {
            return;
        }
        let live = self.running.values().filter(|r| !r.lost).count();
        if self.quiet || live >= self.settings.capacity as usize {
            self.release(key, "the worker is full or stopping");
            return;
        }
        self.stats.orders.fetch_add(1, Ordering::Relaxed);
        let mut remote = RemoteOrder::new(order.job_id, order.kind, order.args);
        remote.queue = order.queue;
        remote.attempt = order.attempt;
        remote.max_attempts = order.max_attempts;
        remote.priority = order.priority;
        remote.created_at = chrono::DateTime::from_timestamp_millis(order.created_at_ms)
            .unwrap_or_else(chrono::Utc::now);
        remote.tags = order.tags;
        remote.metadata = order
            .metadata
            .unwrap_or_else(|| serde_json::Value::Object(Default::default()));
        remote.lease_token = Some(backlog::LeaseToken::from_bytes(*order.lease.as_bytes()));
        remote.timeout = order.timeout_ms.map(Duration::from_millis);
        remote.max_result_bytes = self.settings.max_result_bytes;
        let cancel = CancellationToken::new();
        let workers = self.workers.clone();
        let outcomes = self.outcomes_tx.clone();
        let progress_tx = self.progress_tx.clone();
        let token = cancel.clone();
        let handle = tokio::spawn(async move {
            let sink: backlog::remote::ProgressSink = Arc::new(move |value| {
                let _ = progress_tx.send((key, value));
            });
            let outcome = workers.run_remote(remote, token, sink).await;
            let _ = outcomes.send(Finished { key, outcome });
        });
        self.running.insert(
            key,
            Running {
                cancel,
                handle,
                started: Instant::now(),
                lost: false,
            },
        );
    }

    fn finished(&mut self, finished: Finished) {
        let Some(running) = self.running.remove(&finished.key) else {
            return;
        };
        if running.lost {
            return;
        }
        let (job_id, lease) = finished.key;
        let duration_us = running
            .started
            .elapsed()
            .as_micros()
            .min(u128::from(u64::MAX)) as u64;
        let message = match finished.outcome {
            RemoteOutcome::Completed { result } => Message::Completed(Completed {
                job_id,
                lease,
                duration_us,
                result,
            }),
            RemoteOutcome::Failed {
                action,
                delay,
                message,
                panicked,
            } => Message::Failed(Failed {
                job_id,
                lease,
                action: match action {
                    RemoteAction::Discard => FailAction::Discard,
                    RemoteAction::Snooze => FailAction::Snooze,
                    RemoteAction::Cancel => FailAction::Cancel,
                    _ => FailAction::Retry,
                },
                delay_ms: delay.map(|d| d.as_millis().min(u128::from(u64::MAX)) as u64),
                error: Some(
                    ErrorInfo {
                        panicked,
                        ..ErrorInfo::new(message)
                    }
                    .truncated(),
                ),
                duration_us,
            }),
            _ => return,
        };
        self.send(&message);
        self.pending.insert(
            finished.key,
            Pending {
                message,
                sent_at: Instant::now(),
            },
        );
    }

    fn progress(&self, key: Key, value: serde_json::Value) {
        if self.running.get(&key).is_some_and(|r| !r.lost) {
            self.send(&Message::Progress(Progress {
                job_id: key.0,
                lease: key.1,
                progress: value,
            }));
        }
    }

    fn release(&mut self, key: Key, reason: &str) {
        self.stats.released.fetch_add(1, Ordering::Relaxed);
        let message = Message::Release(Release {
            job_id: key.0,
            lease: key.1,
            reason: Some(reason.into()),
        });
        self.send(&message);
        self.pending.insert(
            key,
            Pending {
                message,
                sent_at: Instant::now(),
            },
        );
    }

    /// The executions it holds and still runs (not those the server said are lost).
    fn held(&self) -> Vec<Held> {
        self.running
            .iter()
            .filter(|(_, r)| !r.lost)
            .map(|(k, _)| Held {
                job_id: k.0,
                lease: k.1,
            })
            .collect()
    }

    fn lose(&mut self, key: Key) {
        if let Some(r) = self.running.get_mut(&key) {
            if !r.lost {
                r.lost = true;
                r.cancel.cancel();
                self.stats.lost.fetch_add(1, Ordering::Relaxed);
            }
        }
        self.pending.remove(&key);
    }

    fn cancel_job(&self, job_id: i64) {
        for (key, r) in &self.running {
            if key.0 == job_id {
                r.cancel.cancel();
            }
        }
    }

    fn terminate(&mut self) {
        self.quiet = true;
        self.terminated = true;
        let keys: Vec<Key> = self
            .running
            .iter()
            .filter(|(_, r)| !r.lost)
            .map(|(k, _)| *k)
            .collect();
        for key in keys {
            if let Some(r) = self.running.remove(&key) {
                r.handle.abort();
            }
            self.release(key, "the server asked the worker to terminate");
        }
    }

    fn beat(&mut self) {
        if self.last_heard.elapsed() > self.heartbeat * 3 {
            self.switch("the server has been silent for three heartbeat intervals");
            return;
        }
        if !self.welcomed {
            self.hello();
            return;
        }
        let held = self.held();
        self.send(&Message::Heartbeat(Heartbeat {
            held,
            capacity: self.quiet.then_some(0),
        }));
        self.resend(self.heartbeat);
    }

    /// Resends outcomes unanswered for `older_than`.
    fn resend(&mut self, older_than: Duration) {
        let now = Instant::now();
        let due: Vec<Message> = self
            .pending
            .values_mut()
            .filter(|p| now.duration_since(p.sent_at) >= older_than)
            .map(|p| {
                p.sent_at = now;
                p.message.clone()
            })
            .collect();
        for message in due {
            self.send(&message);
        }
    }

    /// Graceful stop: no more orders, running jobs get the grace period, the rest are
    /// released, answers are awaited (bounded), then `Goodbye`.
    async fn drain(&mut self, outcomes: &mut mpsc::UnboundedReceiver<Finished>) {
        self.quiet = true;
        self.send(&Message::Heartbeat(Heartbeat {
            held: Vec::new(),
            capacity: Some(0),
        }));
        let deadline = Instant::now() + self.settings.grace;
        while self.running.values().any(|r| !r.lost) && Instant::now() < deadline {
            tokio::select! {
                Some(finished) = outcomes.recv() => self.finished(finished),
                bytes = self.link.inbound.recv() => if let Some(bytes) = bytes { self.receive(&bytes) },
                _ = tokio::time::sleep_until(deadline.into()) => break,
            }
        }
        let left: Vec<Key> = self.running.keys().copied().collect();
        for key in left {
            if let Some(r) = self.running.remove(&key) {
                r.handle.abort();
                if !r.lost {
                    self.release(key, "the worker is shutting down");
                }
            }
        }
        let answers = Instant::now() + Duration::from_secs(5);
        let mut resend = tokio::time::interval(Duration::from_millis(500));
        while !self.pending.is_empty() && Instant::now() < answers {
            tokio::select! {
                bytes = self.link.inbound.recv() => match bytes {
                    Some(bytes) => self.receive(&bytes),
                    None => break,
                },
                _ = resend.tick() => self.resend(Duration::from_millis(500)),
            }
        }
        if !self.pending.is_empty() {
            tracing::warn!(
                unanswered = self.pending.len(),
                "stopping with outcomes the server has not confirmed; their leases run out and the rescuer retries them"
            );
        }
        self.send(&Message::Goodbye(Goodbye {
            reason: Some("the worker is shutting down".into()),
            reconnect_ms: None,
        }));
        // Give the socket thread a moment to put Goodbye on the wire before the link closes.
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
