//! Opening connections with Backlog's pragmas.

use std::path::Path;

use backlog_storage::Error;
use rusqlite::{Connection, OpenFlags};

use crate::error::from_sqlite;
use crate::{SqliteConfig, Synchronous};

/// Prepared statements kept per connection: more than Backlog has SQL files (90), so no
/// statement is evicted and prepared again.
const STATEMENT_CACHE: usize = 128;

/// The writer's connection: creates the file, switches it to WAL and sets the durability level.
pub(crate) fn open_writer(path: &Path, config: &SqliteConfig) -> Result<Connection, Error> {
    let conn = open(path, config)?;
    let mode: String = conn
        .pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))
        .map_err(from_sqlite)?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(Error::new(
            backlog_storage::ErrorKind::Database,
            format!(
                "SQLite refused WAL mode for {} (got `{mode}`)",
                path.display()
            ),
        ));
    }
    let synchronous = match config.synchronous {
        Synchronous::Full => "FULL",
        Synchronous::Normal => "NORMAL",
    };
    conn.pragma_update(None, "synchronous", synchronous)
        .map_err(from_sqlite)?;
    Ok(conn)
}

/// A read connection (the file already exists and is in WAL mode).
pub(crate) fn open_reader(path: &Path, config: &SqliteConfig) -> Result<Connection, Error> {
    let conn = open(path, config)?;
    conn.pragma_update(None, "query_only", "ON")
        .map_err(from_sqlite)?;
    Ok(conn)
}

fn open(path: &Path, config: &SqliteConfig) -> Result<Connection, Error> {
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
        | OpenFlags::SQLITE_OPEN_CREATE
        | OpenFlags::SQLITE_OPEN_NO_MUTEX
        | OpenFlags::SQLITE_OPEN_URI;
    let conn = Connection::open_with_flags(path, flags).map_err(from_sqlite)?;
    conn.busy_timeout(config.busy_timeout)
        .map_err(from_sqlite)?;
    conn.pragma_update(None, "foreign_keys", "ON")
        .map_err(from_sqlite)?;
    // Each writer request runs in a savepoint; its statement journal would otherwise be a temp
    // file written page by page (measured: ~45% of a bulk insert's time went to those writes).
    conn.pragma_update(None, "temp_store", "MEMORY")
        .map_err(from_sqlite)?;
    // 32 MiB of page cache (negative = KiB): keeps the hot job table and its indexes in memory.
    conn.pragma_update(None, "cache_size", -32_768)
        .map_err(from_sqlite)?;
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    Ok(conn)
}
