//! Batches: creating, adding members, sealing, reading, pruning.

use backlog_storage::{
    batch_missing, batch_not_open, check_batch_jobs, check_callback, validate_idempotency_key,
    BatchAddParams, BatchCreateParams, BatchId, BatchListParams, BatchRow, Error, ErrorKind,
    JobInsertManyParams, JobInsertResult, PruneParams, Pruned,
};
use backlog_types::JobId;

use crate::settle::{batch_row, query};
use crate::{error, PgStorage};

impl PgStorage {
    pub(crate) async fn batch_create_impl(
        &self,
        params: BatchCreateParams,
    ) -> Result<BatchId, Error> {
        let callback = params.callback.as_ref();
        if let Some(callback) = callback {
            check_callback(callback)?;
        }
        let key = params.idempotency_key.as_deref();
        if let Some(key) = key {
            validate_idempotency_key(key)?;
            if let Some(id) = self.batch_find_key(key).await? {
                return Ok(id);
            }
        }
        let rows = self
            .query(
                include_str!("../sql/batch_create.sql"),
                &[
                    &params.parent,
                    &params.description,
                    &callback.map(|c| c.queue.as_str()),
                    &callback.map(|c| c.kind.as_str()),
                    &callback.map(|c| &c.args),
                    &callback.map(|c| c.priority),
                    &callback.map(|c| c.max_attempts),
                    &callback.map_or(1, |c| c.on.code()),
                    &key,
                ],
            )
            .await;
        let rows = match (rows, key) {
            // A concurrent creation of the same key committed first: its batch is the answer.
            (Err(e), Some(key)) if e.kind() == ErrorKind::UniqueViolation => {
                return self.batch_find_key(key).await?.ok_or(e);
            }
            (rows, _) => rows?,
        };
        match rows.first() {
            Some(row) => row.try_get("id").map_err(error::decode),
            None => Err(batch_not_open(params.parent.unwrap_or_default())),
        }
    }

    async fn batch_find_key(&self, key: &str) -> Result<Option<BatchId>, Error> {
        let rows = self
            .query(include_str!("../sql/batch_find_key.sql"), &[&key])
            .await?;
        rows.first()
            .map(|row| row.try_get("id").map_err(error::decode))
            .transpose()
    }

    pub(crate) async fn batch_add_impl(
        &self,
        params: BatchAddParams,
    ) -> Result<Vec<JobInsertResult>, Error> {
        check_batch_jobs(&params.jobs)?;
        if params.jobs.is_empty() {
            return Ok(Vec::new());
        }
        let n = i64::try_from(params.jobs.len()).unwrap_or(i64::MAX);
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(error::pg)?;
        let grown = query(
            &tx,
            include_str!("../sql/batch_grow.sql"),
            &[&params.batch, &n],
        )
        .await?;
        if grown.is_empty() {
            // A resend of members that were all added before (the batch may have been sealed
            // or even finished since) is answered with them; the inserts this may have made
            // for unknown keys are rolled back with the transaction.
            if params.jobs.iter().all(|j| j.idempotency.is_some()) {
                let inserted = self
                    .job_insert_many_tx(&*tx, JobInsertManyParams { jobs: params.jobs })
                    .await?;
                if inserted.iter().all(|r| r.duplicate) {
                    return Ok(inserted);
                }
            }
            return Err(batch_not_open(params.batch));
        }
        let inserted = self
            .job_insert_many_tx(&*tx, JobInsertManyParams { jobs: params.jobs })
            .await?;
        // Jobs whose idempotency key was used before are not new members: the batch was
        // counted for them above, under its row lock, so the count is taken back.
        let ids: Vec<JobId> = inserted
            .iter()
            .filter(|r| !r.duplicate)
            .map(|r| r.id)
            .collect();
        let duplicates = n - i64::try_from(ids.len()).unwrap_or(i64::MAX);
        if duplicates > 0 {
            query(
                &tx,
                include_str!("../sql/batch_grow.sql"),
                &[&params.batch, &-duplicates],
            )
            .await?;
        }
        query(
            &tx,
            include_str!("../sql/job_batch_set.sql"),
            &[&params.batch, &ids],
        )
        .await?;
        tx.commit().await.map_err(error::pg)?;
        Ok(inserted)
    }

    pub(crate) async fn batch_seal_impl(&self, id: BatchId) -> Result<BatchRow, Error> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(error::pg)?;
        let sealed = query(&tx, include_str!("../sql/batch_seal.sql"), &[&id]).await?;
        let Some(row) = sealed.first() else {
            return Err(batch_missing(id));
        };
        if row.try_get("due").map_err(error::decode)? {
            self.settle_batches(&tx, Vec::new(), vec![id]).await?;
        }
        let rows = query(&tx, include_str!("../sql/batch_get.sql"), &[&id]).await?;
        let batch = rows
            .first()
            .map(batch_row)
            .transpose()?
            .ok_or_else(|| batch_missing(id))?;
        tx.commit().await.map_err(error::pg)?;
        Ok(batch)
    }

    pub(crate) async fn batch_get_impl(&self, id: BatchId) -> Result<Option<BatchRow>, Error> {
        let rows = self
            .query(include_str!("../sql/batch_get.sql"), &[&id])
            .await?;
        rows.first().map(batch_row).transpose()
    }

    pub(crate) async fn batch_list_impl(
        &self,
        params: BatchListParams,
    ) -> Result<Vec<BatchRow>, Error> {
        let rows = self
            .query(
                include_str!("../sql/batch_list.sql"),
                &[&params.before_id, &i64::from(params.limit)],
            )
            .await?;
        rows.iter().map(batch_row).collect()
    }
}

impl PgStorage {
    pub(crate) async fn batch_prune_impl(&self, params: PruneParams) -> Result<Pruned, Error> {
        let rows = self
            .query(
                include_str!("../sql/batch_prune.sql"),
                &[&i64::from(params.limit), &params.after],
            )
            .await?;
        crate::maintenance::pruned(&rows, params.limit)
    }
}
