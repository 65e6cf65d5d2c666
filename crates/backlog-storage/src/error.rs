use std::fmt;

/// What went wrong in a storage call, classified so callers can react without parsing messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The database could not be reached, the connection broke, or it cannot write for now
    /// (locked by another connection, its disk full). Usually worth retrying.
    Unavailable,
    /// The schema is missing or older than this version of Backlog: run `backlog migrate`.
    NotMigrated,
    /// A unique constraint was violated.
    UniqueViolation,
    /// The request was invalid for the database (bad value, constraint violation).
    InvalidInput,
    /// Stored data could not be decoded (corrupt or written by an incompatible version).
    Decode,
    /// Anything else the database reported.
    Database,
    /// The connection broke after the request was sent and before its reply arrived: a write
    /// may or may not have committed (a lost reply to a commit). Retry only what is safe to
    /// apply twice, or make it so (a unique key on enqueue); reads can simply be retried.
    OutcomeUnknown,
}

/// An error from a storage backend.
#[derive(Debug, thiserror::Error)]
pub struct Error {
    kind: ErrorKind,
    message: String,
    #[source]
    source: Option<Box<dyn std::error::Error + Send + Sync + 'static>>,
}

impl Error {
    /// An error of `kind` with a message for humans.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Error {
        Error {
            kind,
            message: message.into(),
            source: None,
        }
    }

    /// Attaches the underlying driver error.
    pub fn with_source(mut self, source: impl std::error::Error + Send + Sync + 'static) -> Error {
        self.source = Some(Box::new(source));
        self
    }

    /// The classification.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The message, without the source chain.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)?;
        if let Some(source) = &self.source {
            write!(f, ": {source}")?;
        }
        Ok(())
    }
}
