//! Classifies rusqlite's errors into the seam's [`ErrorKind`]s, by SQLite result code rather than
//! by message wherever SQLite gives a code.

use backlog_storage::{Error, ErrorKind};
use rusqlite::ffi;

/// Converts a rusqlite error into a storage error of the matching kind, keeping it as the source.
pub(crate) fn from_sqlite(err: rusqlite::Error) -> Error {
    let (kind, message) = classify(&err);
    Error::new(kind, message).with_source(err)
}

/// Whether `err` (a storage error made by [`from_sqlite`]) says the disk is full.
pub(crate) fn is_disk_full(err: &Error) -> bool {
    std::error::Error::source(err)
        .and_then(|source| source.downcast_ref::<rusqlite::Error>())
        .is_some_and(is_sqlite_disk_full)
}

/// Whether SQLite says the disk is full.
pub(crate) fn is_sqlite_disk_full(err: &rusqlite::Error) -> bool {
    err.sqlite_error_code() == Some(ffi::ErrorCode::DiskFull)
}

/// Whether `err` says a table is missing: the schema is not migrated (yet).
pub(crate) fn is_not_migrated(err: &rusqlite::Error) -> bool {
    matches!(
        err,
        rusqlite::Error::SqliteFailure(_, Some(message)) if message.starts_with("no such table")
    )
}

fn classify(err: &rusqlite::Error) -> (ErrorKind, &'static str) {
    use rusqlite::Error as E;
    match err {
        E::SqliteFailure(failure, _) => {
            if is_not_migrated(err) {
                return (
                    ErrorKind::NotMigrated,
                    "the Backlog schema is missing from this SQLite database: run `backlog migrate`",
                );
            }
            match failure.code {
                ffi::ErrorCode::DatabaseBusy | ffi::ErrorCode::DatabaseLocked => (
                    ErrorKind::Unavailable,
                    "the SQLite database is locked by another connection",
                ),
                ffi::ErrorCode::DiskFull => (
                    ErrorKind::Unavailable,
                    "the disk holding the SQLite database is full, so nothing was written: \
                     free space on that filesystem (writes succeed again once there is room)",
                ),
                ffi::ErrorCode::CannotOpen | ffi::ErrorCode::SystemIoFailure => (
                    ErrorKind::Unavailable,
                    "the SQLite database file could not be opened or read",
                ),
                ffi::ErrorCode::ConstraintViolation => match failure.extended_code {
                    ffi::SQLITE_CONSTRAINT_UNIQUE | ffi::SQLITE_CONSTRAINT_PRIMARYKEY => (
                        ErrorKind::UniqueViolation,
                        "a unique constraint was violated",
                    ),
                    _ => (
                        ErrorKind::InvalidInput,
                        "a value was rejected by a constraint of the database",
                    ),
                },
                _ => (ErrorKind::Database, "SQLite reported an error"),
            }
        }
        E::FromSqlConversionFailure(..)
        | E::InvalidColumnType(..)
        | E::IntegralValueOutOfRange(..) => {
            (ErrorKind::Decode, "a stored value could not be decoded")
        }
        _ => (ErrorKind::Database, "SQLite reported an error"),
    }
}

/// A stored value that rusqlite read but Backlog could not make sense of (bad JSON, time or
/// state name).
pub(crate) fn decode(
    column: &str,
    source: impl std::error::Error + Send + Sync + 'static,
) -> Error {
    Error::new(
        ErrorKind::Decode,
        format!("column `{column}` of backlog_job holds a value that could not be decoded"),
    )
    .with_source(source)
}

/// The writer thread is gone: the storage was closed, or the thread stopped.
pub(crate) fn writer_stopped() -> Error {
    Error::new(
        ErrorKind::Unavailable,
        "the SQLite writer thread has stopped (the storage was closed)",
    )
}

/// A copy of `err` for another request of the same failed batch (errors are not `Clone`).
pub(crate) fn copy(err: &Error) -> Error {
    Error::new(err.kind(), err.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failure(code: i32, message: &str) -> rusqlite::Error {
        rusqlite::Error::SqliteFailure(ffi::Error::new(code), Some(message.to_owned()))
    }

    #[test]
    fn a_full_disk_says_what_to_do_and_is_recognised() {
        let err = from_sqlite(failure(ffi::SQLITE_FULL, "database or disk is full"));
        assert_eq!(err.kind(), ErrorKind::Unavailable);
        assert!(err.to_string().contains("free space"), "{err}");
        assert!(is_disk_full(&err));
        let busy = from_sqlite(failure(ffi::SQLITE_BUSY, "database is locked"));
        assert!(!is_disk_full(&busy));
        // A copy (what each request of a failed batch gets) keeps the kind and the message.
        assert!(copy(&err).to_string().contains("database or disk is full"));
    }

    #[test]
    fn kinds() {
        let kind = |e| from_sqlite(e).kind();
        assert_eq!(
            kind(failure(ffi::SQLITE_BUSY, "busy")),
            ErrorKind::Unavailable
        );
        assert_eq!(
            kind(failure(ffi::SQLITE_CANTOPEN, "x")),
            ErrorKind::Unavailable
        );
        assert_eq!(
            kind(failure(ffi::SQLITE_ERROR, "no such table: backlog_job")),
            ErrorKind::NotMigrated
        );
        assert_eq!(
            kind(failure(ffi::SQLITE_CONSTRAINT_UNIQUE, "unique")),
            ErrorKind::UniqueViolation
        );
        assert_eq!(
            kind(failure(ffi::SQLITE_CONSTRAINT_CHECK, "check")),
            ErrorKind::InvalidInput
        );
        assert_eq!(
            kind(failure(ffi::SQLITE_ERROR, "syntax")),
            ErrorKind::Database
        );
    }

    #[test]
    fn not_migrated_says_what_to_do() {
        let err = from_sqlite(failure(ffi::SQLITE_ERROR, "no such table: backlog_job"));
        assert!(err.message().contains("backlog migrate"), "{err}");
    }
}
