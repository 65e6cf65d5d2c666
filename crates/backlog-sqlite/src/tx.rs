//! Transactional enqueue: inserting jobs inside a transaction the application already holds, so
//! that the jobs commit (or roll back) together with the application's own writes.

use backlog_storage::{DedupedBatch, Error, JobInsertManyParams, JobInsertResult};

use crate::{insert, time, SqliteStorage};

impl SqliteStorage {
    /// Inserts jobs with the same SQL as
    /// [`job_insert_many`](backlog_storage::Storage::job_insert_many), but on the caller's own
    /// rusqlite transaction on the same file (open it at [`SqliteStorage::path`]). The jobs
    /// become visible when the caller commits, and vanish if it rolls back.
    ///
    /// This bypasses the writer thread, so the caller's connection competes for SQLite's write
    /// lock as any other would (give it a `busy_timeout`). Subscribers of this process are woken
    /// at once, before the commit (a wake-up that finds nothing yet is harmless), and again by
    /// the watcher of the file (`src/notify.rs`) within a few milliseconds of the commit, as for
    /// a job inserted by another process.
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
        let batch = insert::InsertBatch::new(std::mem::take(&mut deduped.jobs), time::now());
        let sent = insert::job_insert_many(tx, &batch)?;
        self.notifier()
            .job_available(batch.available.iter().map(String::as_str));
        Ok(deduped.results(&sent))
    }
}
