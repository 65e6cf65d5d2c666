//! The CBOR codec: [`encode`] and [`decode`], the [`Limits`] decoding enforces, and the typed
//! [`DecodeError`] that maps onto the `Error` message's codes.

use serde::de::DeserializeOwned;
use serde::Deserialize;

use crate::message::BodyReader;
use crate::{ErrorCode, ErrorReply, FailAction, Message, MessageType, Role};

/// The protocol version this crate speaks; every message carries it in `v`.
pub const PROTOCOL_VERSION: u32 = 1;

/// Every version this crate can decode.
pub const SUPPORTED_VERSIONS: &[u32] = &[PROTOCOL_VERSION];

/// Default largest message accepted: 4 MiB (room for a job with the library's default 1 MiB
/// args limit, or a batch of smaller ones).
pub const DEFAULT_MAX_MESSAGE_BYTES: usize = 4 * 1024 * 1024;

/// Default deepest nesting accepted (arrays, maps and tags, counting the message's own map),
/// which leaves job args more than 120 levels.
pub const DEFAULT_MAX_DEPTH: usize = 128;

/// Longest identifier accepted (`worker_id`, `request_id`), in bytes.
pub const MAX_ID_BYTES: usize = 128;

/// What [`decode`] accepts. The size is checked before any byte is parsed, and the depth
/// while parsing, so a hostile frame costs at most its own size in memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest message, in bytes.
    pub max_message_bytes: usize,
    /// Deepest nesting.
    pub max_depth: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_message_bytes: DEFAULT_MAX_MESSAGE_BYTES,
            max_depth: DEFAULT_MAX_DEPTH,
        }
    }
}

/// Why bytes are not a message. Each maps to the [`ErrorCode`] to answer with
/// ([`DecodeError::code`], [`DecodeError::to_reply`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// Larger than [`Limits::max_message_bytes`]; not parsed at all.
    #[error("message of {len} bytes is over the limit of {max} bytes; send smaller messages (fewer jobs per request, smaller args)")]
    TooLarge {
        /// The message's size.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// Nested deeper than [`Limits::max_depth`].
    #[error("message nests deeper than {max} levels; flatten the job's args")]
    TooDeep {
        /// The limit.
        max: usize,
    },
    /// Not a CBOR map with `v` and `type`, truncated, trailing bytes, or a field missing or
    /// of the wrong type.
    #[error("malformed message{}: {reason}", ty.map(|t| format!(" ({})", t.as_str())).unwrap_or_default())]
    Malformed {
        /// The message's type, when it could be read.
        ty: Option<MessageType>,
        /// What was wrong.
        reason: String,
    },
    /// A `type` this version does not define.
    #[error("unknown message type {name:?}; see docs/protocol.md for the types of version {PROTOCOL_VERSION}")]
    UnknownType {
        /// The `type` sent (cut to 64 bytes).
        name: String,
    },
    /// A `v` this crate does not speak.
    #[error(
        "protocol version {version} is not supported; this peer speaks {SUPPORTED_VERSIONS:?}"
    )]
    UnsupportedVersion {
        /// The `v` sent.
        version: u64,
    },
    /// Well-formed, but a value is out of range.
    #[error("invalid {ty} message: {reason}", ty = ty.as_str())]
    Invalid {
        /// The message's type.
        ty: MessageType,
        /// What was wrong and what to do.
        reason: String,
    },
}

impl DecodeError {
    /// The `Error` code that answers this.
    pub fn code(&self) -> ErrorCode {
        match self {
            DecodeError::TooLarge { .. } => ErrorCode::TooLarge,
            DecodeError::TooDeep { .. } => ErrorCode::TooDeep,
            DecodeError::Malformed { .. } => ErrorCode::Malformed,
            DecodeError::UnknownType { .. } => ErrorCode::UnknownType,
            DecodeError::UnsupportedVersion { .. } => ErrorCode::UnsupportedVersion,
            DecodeError::Invalid { .. } => ErrorCode::Invalid,
        }
    }

    /// The `Error` message that answers this.
    pub fn to_reply(&self) -> ErrorReply {
        let re = match self {
            DecodeError::Malformed { ty, .. } => ty.map(|t| t.as_str().to_owned()),
            DecodeError::Invalid { ty, .. } => Some(ty.as_str().to_owned()),
            _ => None,
        };
        let supported_versions = match self {
            DecodeError::UnsupportedVersion { .. } => SUPPORTED_VERSIONS.to_vec(),
            _ => Vec::new(),
        };
        ErrorReply {
            code: self.code(),
            message: self.to_string(),
            re,
            supported_versions,
        }
    }
}

/// Why a message could not be encoded (a bug in the caller's values, never the wire).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EncodeError {
    /// A value could not be represented in CBOR.
    #[error("cannot encode {ty} message: {reason}", ty = ty.as_str())]
    Unrepresentable {
        /// The message's type.
        ty: MessageType,
        /// What failed.
        reason: String,
    },
}

/// Encodes a message: a definite-length CBOR map whose first entries are `v` and `type`,
/// followed by the body's fields in declaration order; absent optional fields are omitted.
/// Floats use the shortest of half, single and double precision that keeps their value.
pub fn encode(message: &Message) -> Result<Vec<u8>, EncodeError> {
    let ty = message.message_type();
    let fail = |reason: String| EncodeError::Unrepresentable { ty, reason };
    let body = match message.body_value().map_err(|e| fail(e.to_string()))? {
        ciborium::Value::Map(fields) => fields,
        other => return Err(fail(format!("body is not a map: {other:?}"))),
    };
    let mut fields = Vec::with_capacity(body.len() + 2);
    fields.push(("v".into(), PROTOCOL_VERSION.into()));
    fields.push(("type".into(), ty.as_str().into()));
    fields.extend(body);
    let mut out = Vec::new();
    ciborium::into_writer(&ciborium::Value::Map(fields), &mut out)
        .map_err(|e| fail(e.to_string()))?;
    Ok(out)
}

/// Decodes one message (one ZeroMQ payload frame), enforcing `limits`.
///
/// Checks, in order: the size (before parsing), that it is a CBOR map with an integer `v` and
/// a text `type`, the version, the type, the body (depth-limited, no trailing bytes), then the
/// values a peer could get wrong (a worker's `Hello` without kinds, a `Failed` without its
/// error). Unknown fields are ignored, so that later minor revisions can add optional fields.
pub fn decode(bytes: &[u8], limits: &Limits) -> Result<Message, DecodeError> {
    if bytes.len() > limits.max_message_bytes {
        return Err(DecodeError::TooLarge {
            len: bytes.len(),
            max: limits.max_message_bytes,
        });
    }
    // A CBOR map's first byte has major type 5; anything else (including a tag) is refused
    // before parsing.
    if bytes.first().map(|b| b >> 5) != Some(5) {
        return Err(malformed(
            None,
            "a message is a CBOR map with `v` and `type`".into(),
        ));
    }
    let header: Header = read(bytes, limits, None)?;
    let version = header
        .v
        .ok_or_else(|| malformed(None, "missing field `v` (the protocol version)".into()))?;
    if !SUPPORTED_VERSIONS.iter().any(|&v| u64::from(v) == version) {
        return Err(DecodeError::UnsupportedVersion { version });
    }
    let name = header
        .ty
        .ok_or_else(|| malformed(None, "missing field `type`".into()))?;
    let ty = MessageType::from_name(&name).ok_or_else(|| DecodeError::UnknownType {
        name: name.chars().take(64).collect(),
    })?;
    let message = Message::read_body(ty, Body { bytes, limits, ty })?;
    check(&message)?;
    Ok(message)
}

/// The fields every message has.
#[derive(Deserialize)]
struct Header {
    v: Option<u64>,
    #[serde(rename = "type")]
    ty: Option<String>,
}

struct Body<'a> {
    bytes: &'a [u8],
    limits: &'a Limits,
    ty: MessageType,
}

impl BodyReader for Body<'_> {
    type Error = DecodeError;

    fn read<T: DeserializeOwned>(self) -> Result<T, DecodeError> {
        read(self.bytes, self.limits, Some(self.ty))
    }
}

fn read<T: DeserializeOwned>(
    bytes: &[u8],
    limits: &Limits,
    ty: Option<MessageType>,
) -> Result<T, DecodeError> {
    let mut rest = bytes;
    let value = ciborium::de::from_reader_with_recursion_limit(&mut rest, limits.max_depth)
        .map_err(|e| match e {
            ciborium::de::Error::RecursionLimitExceeded => DecodeError::TooDeep {
                max: limits.max_depth,
            },
            ciborium::de::Error::Io(_) => malformed(ty, "truncated: the message ends early".into()),
            ciborium::de::Error::Syntax(at) => malformed(ty, format!("invalid CBOR at byte {at}")),
            ciborium::de::Error::Semantic(_, msg) => malformed(ty, msg),
        })?;
    if !rest.is_empty() {
        return Err(malformed(
            ty,
            format!("{} bytes after the end of the message", rest.len()),
        ));
    }
    Ok(value)
}

fn malformed(ty: Option<MessageType>, reason: String) -> DecodeError {
    DecodeError::Malformed { ty, reason }
}

/// The checks of values that decoding alone does not make.
fn check(message: &Message) -> Result<(), DecodeError> {
    let invalid = |ty, reason: &str| {
        Err(DecodeError::Invalid {
            ty,
            reason: reason.to_owned(),
        })
    };
    match message {
        Message::Hello(hello) => {
            if let Some(id) = &hello.worker_id {
                if id.is_empty() || id.len() > MAX_ID_BYTES {
                    return invalid(MessageType::Hello, "worker_id must be 1 to 128 bytes");
                }
            }
            if hello.role == Role::Worker {
                if hello.worker_id.is_none() {
                    return invalid(MessageType::Hello, "a worker must send its worker_id");
                }
                if hello.kinds.is_empty() || hello.queues.is_empty() {
                    return invalid(
                        MessageType::Hello,
                        "a worker must name at least one kind and one queue",
                    );
                }
                if hello.capacity.unwrap_or(0) == 0 {
                    return invalid(MessageType::Hello, "a worker's capacity must be at least 1");
                }
            }
        }
        Message::Request(request)
            if request.request_id.is_empty() || request.request_id.len() > MAX_ID_BYTES =>
        {
            return invalid(MessageType::Request, "request_id must be 1 to 128 bytes");
        }
        Message::Failed(failed) => match failed.action {
            FailAction::Snooze if failed.delay_ms.is_none() => {
                return invalid(MessageType::Failed, "a snooze needs delay_ms");
            }
            FailAction::Retry | FailAction::Discard | FailAction::Cancel
                if failed.error.is_none() =>
            {
                return invalid(
                    MessageType::Failed,
                    "retry, discard and cancel need the error",
                );
            }
            _ => {}
        },
        _ => {}
    }
    Ok(())
}
