//! Backlog's remote worker and producer in Rust.
//!
//! A [`RemoteWorker`] runs the same [`backlog::Worker`]s as the in-process
//! [`Runner`](backlog::Runner), in a process that does not touch the database: a
//! `backlog serve --zmq` server claims jobs for it and sends them as orders over ZeroMQ, and it
//! reports each outcome back. Moving a worker out of process is a change of builder, not of
//! worker:
//!
//! ```no_run
//! use backlog::{Job, JobArgs, JobError, Worker, Workers};
//! use backlog_remote::RemoteWorker;
//!
//! #[derive(serde::Serialize, serde::Deserialize)]
//! struct Thumbnail { path: String }
//! impl JobArgs for Thumbnail { const KIND: &'static str = "thumbnail"; }
//!
//! struct Thumbnailer;
//! impl Worker for Thumbnailer {
//!     type Args = Thumbnail;
//!     async fn work(&self, job: Job<Thumbnail>) -> Result<(), JobError> {
//!         job.set_result(format!("{}.thumb.jpg", job.args.path))?;
//!         Ok(())
//!     }
//! }
//!
//! # async fn run() -> Result<(), backlog_remote::RemoteError> {
//! let worker = RemoteWorker::builder(["tcp://127.0.0.1:7400", "tcp://127.0.0.1:7401"])
//!     .queues(["default"])
//!     .capacity(8)
//!     .start(Workers::new().register(Thumbnailer))?;
//! worker.run_until(async { let _ = tokio::signal::ctrl_c().await; }).await;
//! # Ok(()) }
//! ```
//!
//! What it guarantees (`docs/protocol.md` §8): it never holds more orders than its capacity;
//! heartbeats list what it holds and renew those leases; a job whose lease the server reports
//! lost, or whose cancellation it asks for, is stopped; every outcome is kept until the server
//! answers `Recorded`, resent every heartbeat interval and after every reconnect; when its
//! server goes silent or says `Goodbye` it connects to the next endpoint and says what it holds,
//! so nothing runs twice; shutdown finishes running jobs within a grace period, releases the
//! rest and says `Goodbye`.
//!
//! A [`RemoteProducer`] enqueues over the same protocol, with a request id per call that makes
//! a resend after a lost answer safe.

mod link;
mod producer;
mod worker;

pub use producer::{Enqueued, ProduceError, RemoteProducer};
pub use worker::{RemoteWorker, RemoteWorkerBuilder, RemoteWorkerStats};

/// CURVE keys of a client: the server's public key and this client's key pair (raw 32 bytes
/// each; `backlog_server::decode_key` or any Z85 decoder turns `backlog keygen`'s text into
/// them).
#[derive(Clone)]
pub struct Curve {
    /// The server's public key.
    pub server_public: [u8; 32],
    /// This client's public key (allowlisted on the server with `--allow-client`).
    pub public: [u8; 32],
    /// This client's secret key.
    pub secret: [u8; 32],
}

impl std::fmt::Debug for Curve {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Curve").finish_non_exhaustive()
    }
}

/// Why a remote worker or producer could not start or talk to its server.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RemoteError {
    /// No endpoint was given.
    #[error("no server endpoint given: pass at least one, e.g. tcp://127.0.0.1:7400")]
    NoEndpoint,
    /// An invalid setting.
    #[error("invalid setting: {0}")]
    Config(String),
    /// The endpoint could not be connected to (malformed address).
    #[error("could not connect to {endpoint}: {source} (is it a tcp://host:port address?)")]
    Connect {
        /// The endpoint.
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
    /// CURVE keys were given but the linked libzmq has no CURVE.
    #[error("CURVE keys were given but the linked libzmq was built without CURVE support; install a libzmq with libsodium (Debian's libzmq5 has it)")]
    CurveUnavailable,
    /// A message could not be encoded.
    #[error("could not encode a message: {0}")]
    Encode(String),
    /// The socket thread could not be started.
    #[error("could not start the socket thread: {0}")]
    Thread(std::io::Error),
    /// The connection was closed.
    #[error("the connection to the server is closed")]
    Closed,
}
