//! Backlog's ZeroMQ server: remote producers (and, next, remote workers) speak the protocol
//! of `backlog-protocol` to it over a `ROUTER` socket.
//!
//! - The `ROUTER` lives on its own OS thread (ZeroMQ sockets are not thread-safe), bridged to
//!   tokio by a bounded channel inbound and an `inproc` pair outbound.
//! - Sessions open with `Hello`/`Welcome`; anything before `Hello`, malformed CBOR, unknown
//!   types or versions and oversized messages are answered `Error`, and the server keeps
//!   serving everyone else. Silent sessions are dropped after [`ServerConfig::missed_heartbeats`]
//!   intervals and handed to [`ServerHooks::session_lost`].
//! - Producers' `Request`s are enqueued through the library and acknowledged after the commit.
//! - With [`ServerConfig::curve`], connections are encrypted and only allowlisted client keys
//!   get in.
//!
//! See `docs/server.md` for running it and the ZeroMQ pitfalls it handles.

mod enqueue;
mod keys;
mod session;
mod socket;
mod zap;

use std::sync::Arc;
use std::time::Duration;

use backlog::Client;

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

/// A running server. Dropping it does not stop it: call [`Server::shutdown`].
pub struct Server {
    socket: Arc<socket::SocketHandle>,
    zap: Option<zap::ZapHandle>,
    stop: tokio_util::sync::CancellationToken,
    task: tokio::task::JoinHandle<()>,
    _ctx: zmq::Context,
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
        if config.heartbeat.is_zero() {
            return Err(ServerError::Config(
                "heartbeat must be longer than zero".into(),
            ));
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
        let task = tokio::spawn(session::run(
            client,
            config,
            hooks,
            socket.clone(),
            rx,
            stop.clone(),
        ));
        Ok(Server {
            socket,
            zap,
            stop,
            task,
            _ctx: ctx,
        })
    }

    /// The endpoint bound, with the port filled in (e.g. `tcp://127.0.0.1:41234`).
    pub fn endpoint(&self) -> &str {
        &self.socket.endpoint
    }

    /// Says `Goodbye` to every session, stops the socket thread and waits for it.
    pub async fn shutdown(mut self) {
        self.stop.cancel();
        let _ = (&mut self.task).await;
        let socket = self.socket.clone();
        let _ = tokio::task::spawn_blocking(move || socket.stop()).await;
        if let Some(mut zap) = self.zap.take() {
            let _ = tokio::task::spawn_blocking(move || zap.stop()).await;
        }
    }
}
