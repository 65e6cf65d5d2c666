//! Batches: creating, adding members, sealing, reading.

use backlog_storage::{
    check_batch_jobs, check_callback, BatchAddParams, BatchCreateParams, BatchId, BatchListParams,
    BatchRow, Error, ErrorKind, JobInsertManyParams,
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
                ],
            )
            .await?;
        match rows.first() {
            Some(row) => row.try_get("id").map_err(error::decode),
            None => Err(not_open(params.parent.unwrap_or_default())),
        }
    }

    pub(crate) async fn batch_add_impl(&self, params: BatchAddParams) -> Result<Vec<JobId>, Error> {
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
            return Err(not_open(params.batch));
        }
        let inserted = self
            .job_insert_many_tx(&*tx, JobInsertManyParams { jobs: params.jobs })
            .await?;
        let ids: Vec<JobId> = inserted.iter().map(|r| r.id).collect();
        query(
            &tx,
            include_str!("../sql/job_batch_set.sql"),
            &[&params.batch, &ids],
        )
        .await?;
        tx.commit().await.map_err(error::pg)?;
        Ok(ids)
    }

    pub(crate) async fn batch_seal_impl(&self, id: BatchId) -> Result<BatchRow, Error> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(error::pg)?;
        let sealed = query(&tx, include_str!("../sql/batch_seal.sql"), &[&id]).await?;
        let Some(row) = sealed.first() else {
            return Err(missing(id));
        };
        if row.try_get("due").map_err(error::decode)? {
            self.settle_batches(&tx, Vec::new(), vec![id]).await?;
        }
        let rows = query(&tx, include_str!("../sql/batch_get.sql"), &[&id]).await?;
        let batch = rows
            .first()
            .map(batch_row)
            .transpose()?
            .ok_or_else(|| missing(id))?;
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

/// A batch that cannot take members.
pub(crate) fn not_open(id: BatchId) -> Error {
    Error::new(
        ErrorKind::InvalidInput,
        format!("batch {id} does not exist or is sealed: members can only be added to an open batch (create a new batch)"),
    )
}

/// A batch that does not exist.
pub(crate) fn missing(id: BatchId) -> Error {
    Error::new(
        ErrorKind::InvalidInput,
        format!("batch {id} does not exist (check the id with `backlog batches list`)"),
    )
}
