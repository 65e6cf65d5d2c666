//! `job_insert_and_fetch`: an insert and a claim in one transaction, one round trip, one
//! durable commit.
//!
//! The ZeroMQ server calls it when a request's jobs have an idle remote worker (issue #7):
//! instead of committing the insert, waking its dispatcher and claiming in a second statement,
//! it claims in the insert's own transaction and sends the orders as soon as that commits.
//!
//! Every statement is prepared first, then all are sent pipelined, so the database reads them
//! in this order in one round trip: `BEGIN`; the switch to a generic plan (src/plan.rs); the
//! insert (`job_insert_many`); the ordinary fast-path claim (`job_fetch_available.sql` with
//! `limited = false`, which takes nothing from a queue whose settings restrict claims: those
//! jobs wait for the dispatcher's own claim); `synchronous_commit_restore.sql`, because the
//! claim turns `synchronous_commit` off for its transaction (a claim alone is a lease, not
//! data) and this transaction also holds the insert, whose commit must stay durable; the
//! switch back; `COMMIT`. If any statement fails, PostgreSQL rolls the transaction back at the
//! `COMMIT` (undoing the switches too), and the call returns that error: nothing was stored.

use backlog_storage::{
    DedupedBatch, Error, JobFetchAvailableParams, JobInsertManyParams, JobInsertResult,
};
use backlog_types::{JobId, JobRow};
use deadpool_postgres::GenericClient;

use crate::insert::{self, InsertArrays};
use crate::{error, row, PgStorage};

const BEGIN: &str = include_str!("../sql/transaction_begin.sql");
const RESTORE: &str = include_str!("../sql/synchronous_commit_restore.sql");
const COMMIT: &str = include_str!("../sql/transaction_commit.sql");

impl PgStorage {
    pub(crate) async fn insert_and_fetch(
        &self,
        params: JobInsertManyParams,
        fetch: JobFetchAvailableParams,
    ) -> Result<(Vec<JobInsertResult>, Vec<JobRow>), Error> {
        if fetch.max == 0 {
            return Ok((
                backlog_storage::Storage::job_insert_many(self, params).await?,
                Vec::new(),
            ));
        }
        if params.jobs.is_empty() {
            return Ok((Vec::new(), Vec::new()));
        }
        backlog_storage::check_idempotency(&params.jobs)?;
        let mut batch = DedupedBatch::new(params.jobs);
        let arrays = InsertArrays::new(
            std::mem::take(&mut batch.jobs),
            self.notify_channel(),
            false,
        );
        let client = self.client().await?;
        let prepare = |sql| client.prepare_cached(sql);
        let (begin, enter, insert, claim, restore, leave, commit) = tokio::try_join!(
            prepare(BEGIN),
            prepare(crate::plan::ENTER),
            prepare(arrays.sql()),
            prepare(crate::queue::FETCH),
            prepare(RESTORE),
            prepare(crate::plan::LEAVE),
            prepare(COMMIT),
        )
        .map_err(error::pg)?;
        let claim_args = crate::queue::ClaimArgs::new(&fetch, fetch.max, false);
        let insert_params = arrays.params();
        let claim_params = claim_args.params(&fetch);
        let (begun, entered, inserted, claimed, restored, left, committed) = tokio::join!(
            client.query(&begin, &[]),
            client.query(&enter, &[]),
            client.query(&insert, &insert_params),
            client.query(&claim, &claim_params),
            client.query(&restore, &[]),
            client.query(&leave, &[]),
            client.query(&commit, &[]),
        );
        // The first failure is the cause; those after it are the aborted transaction's.
        begun.map_err(error::pg)?;
        entered.map_err(error::pg)?;
        let rows = inserted.map_err(error::pg)?;
        let claimed = claimed.map_err(error::pg)?;
        restored.map_err(error::pg)?;
        left.map_err(error::pg)?;
        committed.map_err(error::pg)?;
        let claimed = row::job_rows(&claimed)?;

        // Wake the other workers where an inserted job is still available: the claim took
        // fewer than were inserted, or older jobs of the queue before them.
        let claimed_ids: Vec<JobId> = claimed.iter().map(|row| row.id).collect();
        self.wake(insert::available_queues(&rows, &claimed_ids)?);
        Ok((batch.results(&insert::results(&rows)?), claimed))
    }
}
