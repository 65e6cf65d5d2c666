//! Raw SQL for `backlog bench` (hidden from the docs; not part of Backlog's API): the database's
//! own ceiling on a scratch table shaped like the job table, and a fast set-based fill of the job
//! table with finished jobs. Everything runs on a connection of its own, opened like the
//! writer's (WAL, `synchronous=FULL`), beside any [`SqliteStorage`](crate::SqliteStorage) on the
//! same file; the functions block, so call them from `spawn_blocking`.

use std::path::Path;
use std::time::Duration;

use backlog_storage::Error;
use rusqlite::{params, Connection};

use crate::connection::open_writer;
use crate::error::from_sqlite;
use crate::{time, SqliteConfig};

/// Queue and kind of the benchmark's jobs, as `backlog bench` enqueues them.
pub const QUEUE: &str = "bench";
/// See [`QUEUE`].
pub const KIND: &str = "bench_noop";
const ARGS: &str = r#"{"sent_ns":0}"#;

/// Most rows of one statement of [`BenchConnection::ceiling_insert`], as for Backlog's own
/// insert.
pub const CEILING_INSERT_ROWS: usize = 64;

/// The version of the SQLite library linked in.
pub fn sqlite_version() -> &'static str {
    rusqlite::version()
}

/// A connection of the benchmark's own to a migrated Backlog database file.
pub struct BenchConnection {
    conn: Connection,
}

impl BenchConnection {
    /// Opens `path` with the writer's pragmas (WAL, `synchronous=FULL`).
    pub fn open(path: &Path) -> Result<BenchConnection, Error> {
        Ok(BenchConnection {
            conn: open_writer(path, &SqliteConfig::default())?,
        })
    }

    /// Creates the scratch table `bench_ceiling_job` afresh, shaped like `backlog_job`: the
    /// job table's own statements, renamed (a bench-only exception to "no SQL built in code",
    /// so the copy cannot drift from the migrations).
    pub fn ceiling_create(&self) -> Result<(), Error> {
        self.ceiling_drop()?;
        let mut statement = self
            .conn
            .prepare(include_str!("../sql/bench/ceiling_schema.sql"))
            .map_err(from_sqlite)?;
        let schema = statement
            .query_map([], |row| row.get::<_, String>(0))
            .map_err(from_sqlite)?
            .collect::<Result<Vec<_>, _>>()
            .map_err(from_sqlite)?;
        for sql in schema {
            self.conn
                .execute_batch(&sql.replace("backlog_job", "bench_ceiling_job"))
                .map_err(from_sqlite)?;
        }
        Ok(())
    }

    /// Drops the scratch table.
    pub fn ceiling_drop(&self) -> Result<(), Error> {
        self.conn
            .execute_batch(include_str!("../sql/bench/ceiling_drop.sql"))
            .map_err(from_sqlite)
    }

    /// Inserts `rows` benchmark jobs into the scratch table in one transaction, in statements
    /// of up to [`CEILING_INSERT_ROWS`] rows.
    pub fn ceiling_insert(&mut self, rows: usize) -> Result<(), Error> {
        let now = time::encode(time::now());
        let tx = self.conn.transaction().map_err(from_sqlite)?;
        // At most two statements: the full one and the remainder.
        let statement = |n: usize| {
            let values = vec![include_str!("../sql/bench/ceiling_insert_row.sql").trim(); n];
            format!(
                "{}{}",
                include_str!("../sql/bench/ceiling_insert.sql"),
                values.join(",\n")
            )
        };
        let full = statement(CEILING_INSERT_ROWS);
        let rest = statement(rows % CEILING_INSERT_ROWS);
        let mut left = rows;
        while left > 0 {
            let n = left.min(CEILING_INSERT_ROWS);
            let sql = if n == CEILING_INSERT_ROWS {
                &full
            } else {
                &rest
            };
            tx.prepare_cached(sql)
                .and_then(|mut insert| insert.execute(params![QUEUE, KIND, ARGS, now]))
                .map_err(from_sqlite)?;
            left -= n;
        }
        tx.commit().map_err(from_sqlite)
    }

    /// Claims and deletes up to `n` available jobs of the scratch table; returns how many.
    pub fn ceiling_claim_delete(&self, n: usize) -> Result<usize, Error> {
        self.conn
            .prepare_cached(include_str!("../sql/bench/ceiling_claim_delete.sql"))
            .and_then(|mut s| s.execute(params![QUEUE, n as i64]))
            .map_err(from_sqlite)
    }

    /// Claims up to `n` available jobs of the scratch table; returns their ids.
    pub fn ceiling_claim(&self, n: usize) -> Result<Vec<i64>, Error> {
        let now = time::now();
        let lease = time::add(now, Duration::from_secs(1800));
        let mut claim = self
            .conn
            .prepare_cached(include_str!("../sql/bench/ceiling_claim.sql"))
            .map_err(from_sqlite)?;
        let ids = claim
            .query_map(params![QUEUE, n as i64, time::encode(now), lease], |row| {
                row.get(0)
            })
            .map_err(from_sqlite)?
            .collect::<Result<Vec<i64>, _>>()
            .map_err(from_sqlite)?;
        Ok(ids)
    }

    /// Completes the claimed jobs `ids` of the scratch table in one transaction.
    pub fn ceiling_complete(&mut self, ids: &[i64]) -> Result<(), Error> {
        let now = time::encode(time::now());
        let tx = self.conn.transaction().map_err(from_sqlite)?;
        {
            let mut complete = tx
                .prepare_cached(include_str!("../sql/bench/ceiling_complete.sql"))
                .map_err(from_sqlite)?;
            for id in ids {
                complete.execute(params![id, now]).map_err(from_sqlite)?;
            }
        }
        tx.commit().map_err(from_sqlite)
    }

    /// Inserts rows `offset + 1` to `offset + rows` of a history of `total` completed benchmark
    /// jobs into `backlog_job`, in one statement and transaction.
    pub fn history_fill(&self, rows: u64, offset: u64, total: u64) -> Result<usize, Error> {
        self.conn
            .execute(
                include_str!("../sql/bench/history_fill.sql"),
                params![
                    rows as i64,
                    QUEUE,
                    KIND,
                    ARGS,
                    offset as i64,
                    total.max(1) as i64
                ],
            )
            .map_err(from_sqlite)
    }

    /// After [`BenchConnection::history_fill`]: checkpoints the WAL into the database file and
    /// truncates it (`sql/bench/history_checkpoint.sql`). Fails if a reader kept the checkpoint
    /// from completing.
    pub fn history_checkpoint(&self) -> Result<(), Error> {
        let busy: i64 = self
            .conn
            .query_row(
                include_str!("../sql/bench/history_checkpoint.sql"),
                [],
                |row| row.get(0),
            )
            .map_err(from_sqlite)?;
        match busy {
            0 => Ok(()),
            _ => Err(Error::new(
                backlog_storage::ErrorKind::Database,
                "the WAL checkpoint after the history fill was kept from completing by a reader",
            )),
        }
    }
}
