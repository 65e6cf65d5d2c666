//! Opening connections with Backlog's pragmas.

use std::path::Path;

use backlog_storage::Error;
use rusqlite::{Connection, OpenFlags};

use crate::error::from_sqlite;
use crate::{SqliteConfig, Synchronous};

/// Prepared statements kept per connection: more than Backlog has SQL files (99) and
/// multi-row insert statements (14) together, so no statement is evicted and prepared again.
const STATEMENT_CACHE: usize = 160;

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

/// The checkpointer's connection (the file already exists and is in WAL mode; see
/// `checkpoint.rs`).
pub(crate) fn open_checkpointer(path: &Path, config: &SqliteConfig) -> Result<Connection, Error> {
    open(path, config)
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
    lookaside(&conn)?;
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

/// Slot size and count of each connection's lookaside allocator: 2,048 slots of 512 bytes
/// (1 MiB a connection).
const LOOKASIDE: (i32, i32) = (512, 2048);

/// Gives the connection a bigger lookaside allocator than SQLite's default (40 slots of 1,200
/// bytes). SQLite copies every bound text value into memory of its own, and a bulk insert binds
/// eight text values per job, 64 jobs per statement: with the default, those copies went to
/// `malloc`, about 15 % of the writer thread's time. Measured with the default `backlog bench
/// --scenario bulk`: 25 % more jobs/s (docs/benchmarks.md).
///
/// The one `unsafe` block of the workspace: rusqlite wraps only the boolean
/// `sqlite3_db_config` options. Runs before the connection's first statement.
#[allow(unsafe_code)]
fn lookaside(conn: &Connection) -> Result<(), Error> {
    let (size, count) = LOOKASIDE;
    // SAFETY: `conn.handle()` is the open connection `conn` owns, and no statement has run on
    // it yet, so no lookaside memory is in use (SQLite refuses the change with SQLITE_BUSY
    // otherwise). The variadic arguments are the ones SQLITE_DBCONFIG_LOOKASIDE takes: a buffer
    // (null: SQLite allocates and owns the slots), the slot size and the slot count.
    let code = unsafe {
        rusqlite::ffi::sqlite3_db_config(
            conn.handle(),
            rusqlite::ffi::SQLITE_DBCONFIG_LOOKASIDE,
            std::ptr::null_mut::<std::ffi::c_void>(),
            size,
            count,
        )
    };
    if code == rusqlite::ffi::SQLITE_OK {
        Ok(())
    } else {
        Err(Error::new(
            backlog_storage::ErrorKind::Database,
            format!("SQLite refused to size the connection's lookaside memory (code {code})"),
        ))
    }
}
