//! `Error`: a message could not be used.

use serde::{Deserialize, Serialize};

/// A message could not be used, sent by either side (the server to a client about the
/// client's message; a client to the server about an undecodable message, for the server's
/// logs). The message in question changed nothing. Every decode error has a code, so no
/// undecodable message goes unanswered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorReply {
    /// What was wrong.
    pub code: ErrorCode,
    /// What was wrong and what to do, for people.
    pub message: String,
    /// The type of the message answered, when it could be read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub re: Option<String>,
    /// For `unsupported_version`: the versions the sender speaks.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub supported_versions: Vec<u32>,
}

/// Why a message could not be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ErrorCode {
    /// Not CBOR, truncated, trailing bytes, not a map, a field missing or of the wrong type.
    Malformed,
    /// A `type` this protocol version does not define.
    UnknownType,
    /// A `v` the receiver does not speak; `supported_versions` lists the ones it does.
    UnsupportedVersion,
    /// Bigger than the receiver's limit (`Welcome::max_message_bytes`, `max_batch`).
    TooLarge,
    /// Nested deeper than the receiver's limit.
    TooDeep,
    /// Well-formed, but a field's value is out of range (an empty id, a worker without
    /// kinds, a capacity of 0, `run_at_ms` together with `run_after_ms`...).
    Invalid,
    /// No session: the first message from a peer must be `Hello`, and a session closed after
    /// missed heartbeats must be opened again with `Hello`.
    NoSession,
    /// A message this peer may not send (a server's message from a client, an `Order` from
    /// anyone, a worker's message from a producer's session).
    Unexpected,
    /// The `Hello`'s credentials were refused; the session is not opened.
    Unauthorized,
    /// The server is overloaded and dropped the message; resend it later.
    Overloaded,
    /// The server is shutting down; it handles nothing more from this session.
    ShuttingDown,
    /// The server failed (a bug or the database): the message may be resent.
    Internal,
}

impl ErrorCode {
    /// The code as it is written on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::Malformed => "malformed",
            ErrorCode::UnknownType => "unknown_type",
            ErrorCode::UnsupportedVersion => "unsupported_version",
            ErrorCode::TooLarge => "too_large",
            ErrorCode::TooDeep => "too_deep",
            ErrorCode::Invalid => "invalid",
            ErrorCode::NoSession => "no_session",
            ErrorCode::Unexpected => "unexpected",
            ErrorCode::Unauthorized => "unauthorized",
            ErrorCode::Overloaded => "overloaded",
            ErrorCode::ShuttingDown => "shutting_down",
            ErrorCode::Internal => "internal",
        }
    }
}
