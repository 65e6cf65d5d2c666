//! Idempotency keys on PostgreSQL: looked up and stored by the insert statement itself
//! (`sql/job_insert_many_idempotent.sql`, see `insert.rs`), and pruned by the cleaner
//! (`idempotency_prune`).

use backlog_storage::{Error, IdempotencyPruneParams};

use crate::{error, PgStorage};

impl PgStorage {
    pub(crate) async fn idempotency_prune_impl(
        &self,
        params: IdempotencyPruneParams,
    ) -> Result<u64, Error> {
        let rows = self
            .query(
                include_str!("../sql/idempotency_prune.sql"),
                &[&params.now, &i64::from(params.limit)],
            )
            .await?;
        let deleted: i64 = rows
            .first()
            .map(|row| row.try_get(0))
            .transpose()
            .map_err(error::decode)?
            .unwrap_or(0);
        Ok(deleted.max(0) as u64)
    }
}
