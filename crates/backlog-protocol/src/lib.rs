//! Backlog's wire protocol: the messages producers, workers and the server exchange, their
//! CBOR encoding, the limits a decoder enforces and the protocol version. No sockets and no
//! runtime: the server and the remote clients wrap these in ZeroMQ frames.
//!
//! The specification is `docs/protocol.md`; golden vectors of every message type are checked
//! in under `tests/golden/` and decoded by both this crate's tests and the Python client's.
//!
//! ```
//! use backlog_protocol::{decode, encode, Hello, Limits, Message, Role};
//!
//! let hello = Message::Hello(Hello {
//!     role: Role::Worker,
//!     worker_id: Some("host-1:4242:a1".into()),
//!     kinds: vec!["thumbnail".into()],
//!     queues: vec!["default".into()],
//!     capacity: Some(4),
//!     holding: vec![],
//!     token: None,
//!     library: Some("backlog-rust/0.1.0".into()),
//! });
//! let bytes = encode(&hello).unwrap();
//! assert_eq!(decode(&bytes, &Limits::default()).unwrap(), hello);
//!
//! // Hostile input is an error that says what to answer, never a panic.
//! let err = decode(&[0xa1, 0x61], &Limits::default()).unwrap_err();
//! assert_eq!(err.code().as_str(), "malformed");
//! ```

mod bytes16;
mod codec;
mod json;
mod message;
mod outcome;
mod produce;
mod reply;
mod session;
mod work;

pub use bytes16::{LeaseToken, Uuid};
pub use codec::{
    decode, encode, DecodeError, EncodeError, Limits, DEFAULT_MAX_DEPTH, DEFAULT_MAX_MESSAGE_BYTES,
    MAX_ID_BYTES, PROTOCOL_VERSION, SUPPORTED_VERSIONS,
};
pub use message::{Direction, Message, MessageType};
pub use outcome::{
    Completed, ErrorInfo, FailAction, Failed, RecordStatus, Recordable, Recorded,
    MAX_BACKTRACE_BYTES, MAX_BACKTRACE_LINES, MAX_ERROR_KIND_BYTES, MAX_ERROR_MESSAGE_BYTES,
};
pub use produce::{
    Acknowledged, Backoff, BatchOpen, BatchSpec, CallbackOn, CallbackSpec, Dependency, Enqueued,
    JobSpec, OnConflict, OnDependencyFailure, RejectCode, Rejected, Request, Unique, UniqueArgs,
    UniqueArgsName, WorkflowSpec,
};
pub use reply::{ErrorCode, ErrorReply};
pub use session::{Goodbye, Held, Hello, Role, Welcome};
pub use work::{Cancel, Command, Extend, Heartbeat, HeartbeatAck, Order, Progress, Release};
