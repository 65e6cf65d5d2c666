//! Raw SQL for `backlog bench` (hidden from the docs; not part of Backlog's API): the database's
//! own ceiling on a scratch table shaped like the job table, and a fast set-based fill of the job
//! table with finished jobs. Each function runs one statement from `sql/bench/` on a pooled
//! connection, in its own (durable) transaction.

use backlog_storage::Error;

use crate::{error, PgStorage};

/// Queue and kind of the benchmark's jobs, as `backlog bench` enqueues them.
pub const QUEUE: &str = "bench";
/// See [`QUEUE`].
pub const KIND: &str = "bench_noop";

impl PgStorage {
    async fn bench_execute(
        &self,
        sql: &str,
        params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
    ) -> Result<u64, Error> {
        let client = self.client().await?;
        let statement = client.prepare_cached(sql).await.map_err(error::pg)?;
        client.execute(&statement, params).await.map_err(error::pg)
    }
}

/// The server's version (`server_version`).
pub async fn server_version(storage: &PgStorage) -> Result<String, Error> {
    let client = storage.client().await?;
    let row = client
        .query_one(include_str!("../sql/bench/server_version.sql"), &[])
        .await
        .map_err(error::pg)?;
    row.try_get(0).map_err(error::decode)
}

/// Creates the scratch table `bench_ceiling_job` afresh, shaped like `backlog_job`.
pub async fn ceiling_create(storage: &PgStorage) -> Result<(), Error> {
    ceiling_drop(storage).await?;
    let client = storage.client().await?;
    client
        .batch_execute(include_str!("../sql/bench/ceiling_create.sql"))
        .await
        .map_err(error::pg)
}

/// Drops the scratch table.
pub async fn ceiling_drop(storage: &PgStorage) -> Result<(), Error> {
    let client = storage.client().await?;
    client
        .batch_execute(include_str!("../sql/bench/ceiling_drop.sql"))
        .await
        .map_err(error::pg)
}

/// Inserts `rows` benchmark jobs into the scratch table in one `unnest` statement.
pub async fn ceiling_insert(storage: &PgStorage, rows: usize) -> Result<u64, Error> {
    let queues = vec![QUEUE; rows];
    let kinds = vec![KIND; rows];
    let args = vec![serde_json::json!({"sent_ns": 0}); rows];
    let priorities = vec![0i16; rows];
    let max_attempts = vec![25i32; rows];
    storage
        .bench_execute(
            include_str!("../sql/bench/ceiling_insert.sql"),
            &[&queues, &kinds, &args, &priorities, &max_attempts],
        )
        .await
}

/// Claims and deletes up to `n` available jobs of the scratch table; returns how many.
pub async fn ceiling_claim_delete(storage: &PgStorage, n: usize) -> Result<u64, Error> {
    storage
        .bench_execute(
            include_str!("../sql/bench/ceiling_claim_delete.sql"),
            &[&QUEUE, &(n as i64)],
        )
        .await
}

/// Claims up to `n` available jobs of the scratch table; returns their ids.
pub async fn ceiling_claim(storage: &PgStorage, n: usize) -> Result<Vec<i64>, Error> {
    let rows = storage
        .query(
            include_str!("../sql/bench/ceiling_claim.sql"),
            &[&QUEUE, &(n as i64)],
        )
        .await?;
    rows.iter()
        .map(|r| r.try_get(0).map_err(error::decode))
        .collect()
}

/// Completes the claimed jobs `ids` of the scratch table; returns how many.
pub async fn ceiling_complete(storage: &PgStorage, ids: &[i64]) -> Result<u64, Error> {
    storage
        .bench_execute(include_str!("../sql/bench/ceiling_complete.sql"), &[&ids])
        .await
}

/// Inserts rows `offset + 1` to `offset + rows` of a history of `total` completed benchmark
/// jobs into `backlog_job`, in one statement.
pub async fn history_fill(
    storage: &PgStorage,
    rows: u64,
    offset: u64,
    total: u64,
) -> Result<u64, Error> {
    let args = serde_json::json!({"sent_ns": 0});
    storage
        .bench_execute(
            include_str!("../sql/bench/history_fill.sql"),
            &[
                &(rows as i64),
                &QUEUE,
                &KIND,
                &args,
                &(offset as i64),
                &(total as i64),
            ],
        )
        .await
}

/// `VACUUM (ANALYZE)` of the job table, standing in for autovacuum after a fill.
pub async fn history_vacuum(storage: &PgStorage) -> Result<(), Error> {
    let client = storage.client().await?;
    client
        .batch_execute(include_str!("../sql/bench/history_vacuum.sql"))
        .await
        .map_err(error::pg)
}

/// After the history fill and its vacuum: `CHECKPOINT` (`sql/bench/history_checkpoint.sql`).
/// Needs a superuser or the `pg_checkpoint` role.
pub async fn history_checkpoint(storage: &PgStorage) -> Result<(), Error> {
    let client = storage.client().await?;
    client
        .batch_execute(include_str!("../sql/bench/history_checkpoint.sql"))
        .await
        .map_err(error::pg)
}
