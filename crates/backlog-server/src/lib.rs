//! Backlog's ZeroMQ server: remote producers and remote workers, in any language, speak the
//! protocol of `backlog-protocol` to it over a `ROUTER` socket.
//!
//! - The `ROUTER` lives on its own OS thread (ZeroMQ sockets are not thread-safe), bridged to
//!   tokio by a bounded channel inbound and an `inproc` pair outbound.
//! - Sessions open with `Hello`/`Welcome`; anything before `Hello`, malformed CBOR, unknown
//!   types or versions and oversized messages are answered `Error`, and the server keeps
//!   serving everyone else. Silent sessions are dropped after [`ServerConfig::missed_heartbeats`]
//!   intervals and handed to [`ServerHooks::session_lost`].
//! - Producers' `Request`s are enqueued through the library and acknowledged after the commit.
//! - Workers get `Order`s claimed for them when the database signals work (per worker: its
//!   kinds, queues and free slots); heartbeats renew their leases; outcomes are written in
//!   batches, fenced on each execution's lease token, and answered `Recorded`. See
//!   `docs/server.md` ("Dispatch to remote workers").
//! - With [`ServerConfig::curve`], connections are encrypted and only allowlisted client keys
//!   get in.
//!
//! See `docs/server.md` for running it and the ZeroMQ pitfalls it handles.

mod dispatch;
mod enqueue;
mod keys;
mod recorder;
mod session;
mod socket;
pub mod telemetry;
mod work;
mod zap;

use std::sync::Arc;
use std::time::Duration;

use backlog::{Client, KindPolicy};
pub use backlog_protocol::Command;

pub use keys::{decode_key, encode_key, CurveKeyPair, KeyError};
pub use session::{LostReason, LostSession, Unroutable};

/// The server's settings.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Where to bind, e.g. `tcp://127.0.0.1:7400` (the default). Port `0` picks a free port;
    /// [`Server::endpoint`] tells which.
    pub endpoint: String,
    /// How often clients send `Heartbeat` (told in `Welcome`).
    pub heartbeat: Duration,
    /// A session silent for this many heartbeat intervals is dropped.
    pub missed_heartbeats: u32,
    /// How long a lease lasts after each renewal (told in `Welcome`).
    pub lease: Duration,
    /// Largest message accepted; bigger ones are answered `too_large`, and frames over twice
    /// this are cut off by ZeroMQ (`MAXMSGSIZE`), which drops the connection.
    pub max_message_bytes: usize,
    /// Most jobs in one `Request`.
    pub max_batch: u32,
    /// Most open sessions; a `Hello` beyond it is answered `overloaded`.
    pub max_sessions: usize,
    /// Most `Request`s being enqueued at once; more are rejected `overloaded`.
    pub max_inflight_requests: usize,
    /// ZeroMQ send and receive high-water marks of the `ROUTER` (messages).
    pub hwm: i32,
    /// CURVE: the server's key pair and the client public keys allowed in. `None`: plaintext.
    pub curve: Option<CurveConfig>,
    /// How often the server claims for idle workers without a wake-up from the database (a
    /// safety net: wake-ups normally start claims within milliseconds).
    pub poll_interval: Duration,
    /// Most orders outstanding over all workers of this server (jobq's `num`); `None`: only
    /// the workers' capacities limit it.
    pub max_active: Option<u32>,
    /// Backoff and timeout of kinds without an entry in `kind_policies`.
    pub policy: KindPolicy,
    /// Backoff and timeout per kind (a job's own settings still come first).
    pub kind_policies: std::collections::HashMap<String, KindPolicy>,
}

impl Default for ServerConfig {
    fn default() -> ServerConfig {
        ServerConfig {
            endpoint: "tcp://127.0.0.1:7400".into(),
            heartbeat: Duration::from_secs(5),
            missed_heartbeats: 3,
            lease: Duration::from_secs(30),
            max_message_bytes: backlog_protocol::DEFAULT_MAX_MESSAGE_BYTES,
            max_batch: 1000,
            max_sessions: 10_000,
            max_inflight_requests: 256,
            hwm: 10_000,
            curve: None,
            poll_interval: Duration::from_secs(1),
            max_active: None,
            policy: KindPolicy::default(),
            kind_policies: Default::default(),
        }
    }
}

/// CURVE settings.
#[derive(Clone)]
pub struct CurveConfig {
    /// The server's secret key (its public key is what clients are given).
    pub server_secret: [u8; 32],
    /// Public keys of the clients allowed to connect (raw 32 bytes).
    pub allowed_clients: Vec<[u8; 32]>,
}

impl std::fmt::Debug for CurveConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CurveConfig")
            .field("allowed_clients", &self.allowed_clients.len())
            .finish_non_exhaustive()
    }
}

/// Callbacks the dispatcher plugs into.
#[derive(Clone, Default)]
pub struct ServerHooks {
    /// A session ended (silent too long, `Goodbye`, replaced by a new `Hello`, shutdown).
    pub session_lost: Option<Arc<dyn Fn(LostSession) + Send + Sync>>,
    /// A message could not be delivered (the peer is gone or its pipe is full).
    pub unroutable: Option<Arc<dyn Fn(Unroutable) + Send + Sync>>,
}

impl std::fmt::Debug for ServerHooks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerHooks")
            .field("session_lost", &self.session_lost.is_some())
            .field("unroutable", &self.unroutable.is_some())
            .finish()
    }
}

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServerError {
    /// The endpoint could not be bound.
    #[error("could not bind {endpoint}: {source} (is the port in use, or the address not this machine's?)")]
    Bind {
        /// The endpoint asked for.
        endpoint: String,
        /// ZeroMQ's error.
        source: zmq::Error,
    },
    /// A ZeroMQ call failed.
    #[error("ZeroMQ failed to {what}: {source}")]
    Zmq {
        /// What was being done.
        what: &'static str,
        /// ZeroMQ's error.
        source: zmq::Error,
    },
    /// CURVE was configured but this libzmq was built without it.
    #[error("CURVE is configured but the linked libzmq was built without CURVE support; install a libzmq with libsodium (Debian's libzmq5 has it) or run without keys on a trusted network")]
    CurveUnavailable,
    /// An invalid setting.
    #[error("invalid server setting: {0}")]
    Config(String),
    /// The socket thread could not be started.
    #[error("could not start the server's socket thread: {0}")]
    Thread(std::io::Error),
}

/// Sends commands to a running server's workers; see [`Server::command`]. After the server
/// stopped, commands reach nobody (0).
#[derive(Debug, Clone)]
pub struct ServerControl {
    control: tokio::sync::mpsc::Sender<session::Control>,
}

impl ServerControl {
    /// As [`Server::command`].
    pub async fn command(&self, worker_id: Option<&str>, command: Command) -> usize {
        let (done, told) = tokio::sync::oneshot::channel();
        let control = session::Control {
            worker_id: worker_id.map(str::to_owned),
            command,
            done,
        };
        if self.control.send(control).await.is_err() {
            return 0;
        }
        told.await.unwrap_or(0)
    }
}

/// A running server. Dropping it does not stop it: call [`Server::shutdown`].
pub struct Server {
    socket: Arc<socket::SocketHandle>,
    control: tokio::sync::mpsc::Sender<session::Control>,
    zap: Option<zap::ZapHandle>,
    stop: tokio_util::sync::CancellationToken,
    task: tokio::task::JoinHandle<()>,
    /// Terminated by [`Server::shutdown`] once every socket is closed.
    ctx: Option<zmq::Context>,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("endpoint", &self.socket.endpoint)
            .finish()
    }
}

impl Server {
    /// Binds and starts serving with `client`'s storage. Must be called inside a tokio runtime.
    pub fn start(
        client: Client,
        config: ServerConfig,
        hooks: ServerHooks,
    ) -> Result<Server, ServerError> {
        if config.max_sessions == 0 || config.max_batch == 0 || config.missed_heartbeats == 0 {
            return Err(ServerError::Config(
                "max_sessions, max_batch and missed_heartbeats must be at least 1".into(),
            ));
        }
        if config.heartbeat.is_zero() || config.poll_interval.is_zero() {
            return Err(ServerError::Config(
                "heartbeat and poll_interval must be longer than zero".into(),
            ));
        }
        if config.lease < config.heartbeat * 2 {
            return Err(ServerError::Config(format!(
                "the lease ({:?}) must last at least two heartbeat intervals ({:?}), or leases run out between renewals",
                config.lease, config.heartbeat
            )));
        }
        let ctx = zmq::Context::new();
        let mut zap = None;
        let curve_secret = match &config.curve {
            None => None,
            Some(curve) => {
                if zmq::has("curve") != Some(true) {
                    return Err(ServerError::CurveUnavailable);
                }
                zap = Some(zap::start(
                    &ctx,
                    curve.allowed_clients.iter().copied().collect(),
                )?);
                Some(curve.server_secret)
            }
        };
        let (tx, rx) = tokio::sync::mpsc::channel(1024);
        let max_frame = config
            .max_message_bytes
            .saturating_mul(2)
            .min(i64::MAX as usize) as i64;
        let socket = socket::start(
            &ctx,
            socket::SocketOptions {
                endpoint: config.endpoint.clone(),
                max_frame_bytes: max_frame,
                hwm: config.hwm,
                curve_secret,
            },
            tx,
        );
        let socket = match socket {
            Ok(socket) => Arc::new(socket),
            Err(e) => {
                if let Some(mut zap) = zap {
                    zap.stop();
                }
                return Err(e);
            }
        };
        let stop = tokio_util::sync::CancellationToken::new();
        let (control, control_rx) = tokio::sync::mpsc::channel(16);
        let task = tokio::spawn(session::run(
            client,
            config,
            hooks,
            socket.clone(),
            rx,
            control_rx,
            stop.clone(),
        ));
        Ok(Server {
            control,
            socket,
            zap,
            stop,
            task,
            ctx: Some(ctx),
        })
    }

    /// The endpoint bound, with the port filled in (e.g. `tcp://127.0.0.1:41234`).
    pub fn endpoint(&self) -> &str {
        &self.socket.endpoint
    }

    /// Tells the workers with this `worker_id` (every worker with `None`) to `quiet` (finish
    /// what they hold, take nothing more) or `terminate` (release what they hold and leave),
    /// in their next `HeartbeatAck`; they get no more orders from now on. Returns how many
    /// sessions were told. Commands go forward only: a terminated worker is never quieted.
    pub async fn command(&self, worker_id: Option<&str>, command: Command) -> usize {
        self.control().command(worker_id, command).await
    }

    /// A cloneable handle for [`Server::command`] (e.g. for the dashboard's buttons).
    pub fn control(&self) -> ServerControl {
        ServerControl {
            control: self.control.clone(),
        }
    }

    /// Says `Goodbye` to every session, stops the socket thread and waits for it, then closes
    /// the server's ZeroMQ context. When this returns the endpoint's port is free: a server
    /// can bind it again at once.
    pub async fn shutdown(mut self) {
        self.stop.cancel();
        let _ = (&mut self.task).await;
        let socket = self.socket.clone();
        let zap = self.zap.take();
        let ctx = self.ctx.take();
        let _ = tokio::task::spawn_blocking(move || {
            socket.stop();
            if let Some(mut zap) = zap {
                zap.stop();
            }
            // Every socket of the context is closed now (the threads' on their return, the
            // PUSH by `stop`), so this is the last handle and dropping it terminates the
            // context (`zmq_ctx_term`). That waits for libzmq's I/O threads, which close the
            // listener asynchronously after the ROUTER is closed: until then a new bind of the
            // same port fails with "address in use".
            drop(ctx);
        })
        .await;
    }
}
