//! Maps driver and pool errors to [`backlog_storage::Error`], classified by SQLSTATE rather than
//! by message.

use backlog_storage::{Error, ErrorKind};
use deadpool_postgres::PoolError;
use tokio_postgres::error::SqlState;

/// Classifies a `tokio-postgres` error from a statement sent on an open connection.
pub(crate) fn pg(err: tokio_postgres::Error) -> Error {
    let Some(db) = err.as_db_error() else {
        // No server error: the connection broke or was closed while the statement was in
        // flight. A statement commits on its own (autocommit), so it may have committed with
        // only the reply lost.
        return Error::new(
            ErrorKind::OutcomeUnknown,
            "the PostgreSQL connection broke before the reply arrived; the statement may or may not have committed",
        )
        .with_source(err);
    };
    let code = db.code().clone();
    let message = db.message().to_owned();
    let kind = kind_of(&code);
    Error::new(kind, with_advice(kind, &code, message)).with_source(err)
}

/// The server's message, with what to do about it where Backlog knows.
fn with_advice(kind: ErrorKind, code: &SqlState, message: String) -> String {
    if kind == ErrorKind::NotMigrated {
        format!("Backlog's tables are missing in this schema ({message}): run `backlog migrate`")
    } else if *code == SqlState::TOO_MANY_CONNECTIONS {
        format!(
            "PostgreSQL refused a new connection ({message}): every process sharing the database \
             opens up to PgConfig::max_connections pooled connections plus one listener; lower \
             max_connections per process, raise max_connections in postgresql.conf, or put a \
             pooler such as PgBouncer (session mode for the listener) in front"
        )
    } else {
        message
    }
}

/// Classifies a pool error; errors opening a connection are classified like driver errors.
pub(crate) fn pool(err: PoolError) -> Error {
    match err {
        // Opening a connection: nothing was sent yet.
        PoolError::Backend(err) if err.as_db_error().is_none() => {
            Error::new(ErrorKind::Unavailable, "PostgreSQL connection failed").with_source(err)
        }
        PoolError::Backend(err) => pg(err),
        other => Error::new(
            ErrorKind::Unavailable,
            "no PostgreSQL connection available from the pool",
        )
        .with_source(other),
    }
}

/// A row that could not be decoded into Backlog's types.
pub(crate) fn decode(err: impl std::error::Error + Send + Sync + 'static) -> Error {
    Error::new(ErrorKind::Decode, "could not decode a job row").with_source(err)
}

pub(crate) fn kind_of(code: &SqlState) -> ErrorKind {
    let class = &code.code()[..2];
    if *code == SqlState::UNDEFINED_TABLE
        || *code == SqlState::UNDEFINED_OBJECT
        || *code == SqlState::INVALID_SCHEMA_NAME
    {
        ErrorKind::NotMigrated
    } else if *code == SqlState::UNIQUE_VIOLATION {
        ErrorKind::UniqueViolation
    } else if class == "22" || class == "23" {
        ErrorKind::InvalidInput
    } else if class == "08"
        || class == "53"
        || *code == SqlState::ADMIN_SHUTDOWN
        || *code == SqlState::CRASH_SHUTDOWN
        || *code == SqlState::CANNOT_CONNECT_NOW
    {
        ErrorKind::Unavailable
    } else {
        ErrorKind::Database
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn too_many_connections_says_what_to_do() {
        let message = with_advice(
            ErrorKind::Unavailable,
            &SqlState::TOO_MANY_CONNECTIONS,
            "sorry, too many clients already".into(),
        );
        assert!(message.contains("too many clients") && message.contains("max_connections"));
        assert_eq!(
            with_advice(ErrorKind::Database, &SqlState::SYNTAX_ERROR, "x".into()),
            "x"
        );
    }

    #[test]
    fn kinds() {
        let cases = [
            ("42P01", ErrorKind::NotMigrated),
            ("42704", ErrorKind::NotMigrated),
            ("23505", ErrorKind::UniqueViolation),
            ("23514", ErrorKind::InvalidInput),
            ("22P02", ErrorKind::InvalidInput),
            ("08006", ErrorKind::Unavailable),
            ("57P01", ErrorKind::Unavailable),
            ("53300", ErrorKind::Unavailable),
            ("40P01", ErrorKind::Database),
        ];
        for (code, kind) in cases {
            assert_eq!(kind_of(&SqlState::from_code(code)), kind, "{code}");
        }
    }
}
