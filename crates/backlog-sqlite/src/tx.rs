//! Transactional enqueue: inserting jobs inside a transaction the application already holds, so
//! that the jobs commit (or roll back) together with the application's own writes.

use backlog_storage::{
    check_workflow, DedupedBatch, Error, JobInsertManyParams, JobInsertResult,
    WorkflowInsertParams, WorkflowInsertResult,
};

use crate::{queries, time, workflow, SqliteStorage};

impl SqliteStorage {
    /// Inserts jobs with the same SQL as
    /// [`job_insert_many`](backlog_storage::Storage::job_insert_many), but on the caller's own
    /// rusqlite transaction on the same file (open it at [`SqliteStorage::path`]). The jobs
    /// become visible when the caller commits, and vanish if it rolls back.
    ///
    /// This bypasses the writer thread, so the caller's connection competes for SQLite's write
    /// lock as any other would (give it a `busy_timeout`). Subscribers of this process are woken
    /// at once, before the commit: a wake-up that finds nothing yet is harmless, and the
    /// runtime's polling fallback picks the jobs up once the commit lands.
    pub fn job_insert_many_tx(
        &self,
        tx: &rusqlite::Transaction<'_>,
        params: JobInsertManyParams,
    ) -> Result<Vec<JobInsertResult>, Error> {
        if params.jobs.is_empty() {
            return Ok(Vec::new());
        }
        backlog_storage::check_idempotency(&params.jobs)?;
        let mut deduped = DedupedBatch::new(params.jobs);
        let batch = queries::InsertBatch::new(std::mem::take(&mut deduped.jobs), time::now());
        let sent = queries::job_insert_many(tx, &batch)?;
        self.notifier()
            .job_available(batch.available.iter().map(String::as_str));
        Ok(deduped.results(&sent))
    }

    /// Inserts a workflow like
    /// [`Storage::workflow_insert`](backlog_storage::Storage::workflow_insert), on the caller's
    /// own rusqlite transaction on the same file: jobs, edges and the workflow row commit or
    /// roll back with the caller's writes. Wake-ups as for [`SqliteStorage::job_insert_many_tx`].
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidInput`](backlog_storage::ErrorKind::InvalidInput) for a workflow
    /// refused by [`check_workflow`] (nothing is written); otherwise database errors, after
    /// which the caller should roll back.
    pub fn workflow_insert_tx(
        &self,
        tx: &rusqlite::Transaction<'_>,
        params: WorkflowInsertParams,
    ) -> Result<WorkflowInsertResult, Error> {
        let checked = check_workflow(&params)?;
        let now = time::now();
        let encoded = workflow::encode(params, &checked, now);
        let result = workflow::insert(tx, &encoded, &checked, now)?;
        if !result.duplicate {
            self.notifier()
                .job_available(encoded.jobs.available.iter().map(String::as_str));
        }
        Ok(result)
    }
}
