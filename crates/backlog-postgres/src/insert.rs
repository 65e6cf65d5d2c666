//! `job_insert_many`: the one-row statement for a lone plain job, and the column arrays bound to
//! `sql/job_insert_many.sql`, shared by the pooled insert and the transactional ones (`tx.rs`).

use backlog_storage::{
    DedupedBatch, Error, JobInsert, JobInsertManyParams, JobInsertResult, OnConflict,
};
use chrono::{DateTime, Utc};
use serde_json::value::RawValue;
use tokio_postgres::types::{Json, ToSql, Type};

use crate::storage::micros;
use crate::{error, PgStorage};

/// The SQL of `job_insert_many`, also run by the transactional variants.
pub(crate) const SQL: &str = include_str!("../sql/job_insert_many.sql");

/// The SQL of `job_insert_many` for a batch where some job has an idempotency key.
pub(crate) const SQL_IDEMPOTENT: &str = include_str!("../sql/job_insert_many_idempotent.sql");

/// One array per column, in the order of the statement's parameters `$1`..`$19`.
pub(crate) struct InsertArrays {
    queues: Vec<String>,
    kinds: Vec<String>,
    args: Vec<Json<Box<RawValue>>>,
    priorities: Vec<i16>,
    max_attempts: Vec<i32>,
    scheduled_at: Vec<Option<DateTime<Utc>>>,
    tags: Vec<serde_json::Value>,
    metadata: Vec<serde_json::Value>,
    channel: String,
    unique_keys: Vec<Option<Vec<u8>>>,
    unique_states: Vec<Option<i16>>,
    replace: Vec<bool>,
    fingerprints: Vec<Option<String>>,
    notify: bool,
    run_after_us: Vec<Option<i64>>,
    timeout_ms: Vec<Option<i64>>,
    backoff: Vec<Option<serde_json::Value>>,
    expires_at: Vec<Option<DateTime<Utc>>>,
    partition_keys: Vec<Option<String>>,
    /// Whether some job has an idempotency key (then the three arrays below are bound).
    keyed: bool,
    idempotency_keys: Vec<Option<String>>,
    window_us: Vec<Option<i64>>,
    key_now: Vec<Option<DateTime<Utc>>>,
}

/// The statement's parameter types, for `query_typed` (no prepare round trip).
pub(crate) const TYPES: [Type; 22] = [
    Type::TEXT_ARRAY,
    Type::TEXT_ARRAY,
    Type::JSONB_ARRAY,
    Type::INT2_ARRAY,
    Type::INT4_ARRAY,
    Type::TIMESTAMPTZ_ARRAY,
    Type::JSONB_ARRAY,
    Type::JSONB_ARRAY,
    Type::TEXT,
    Type::BYTEA_ARRAY,
    Type::INT2_ARRAY,
    Type::BOOL_ARRAY,
    Type::TEXT_ARRAY,
    Type::BOOL,
    Type::INT8_ARRAY,
    Type::INT8_ARRAY,
    Type::JSONB_ARRAY,
    Type::TIMESTAMPTZ_ARRAY,
    Type::TEXT_ARRAY,
    Type::TEXT_ARRAY,
    Type::INT8_ARRAY,
    Type::TIMESTAMPTZ_ARRAY,
];

impl InsertArrays {
    /// `notify`: send the wake-up from the statement itself (transactional enqueues).
    pub(crate) fn new(jobs: Vec<JobInsert>, channel: &str, notify: bool) -> InsertArrays {
        let n = jobs.len();
        let mut arrays = InsertArrays {
            queues: Vec::with_capacity(n),
            kinds: Vec::with_capacity(n),
            args: Vec::with_capacity(n),
            priorities: Vec::with_capacity(n),
            max_attempts: Vec::with_capacity(n),
            scheduled_at: Vec::with_capacity(n),
            tags: Vec::with_capacity(n),
            metadata: Vec::with_capacity(n),
            channel: channel.to_owned(),
            unique_keys: Vec::with_capacity(n),
            unique_states: Vec::with_capacity(n),
            replace: Vec::with_capacity(n),
            fingerprints: Vec::with_capacity(n),
            notify,
            run_after_us: Vec::with_capacity(n),
            timeout_ms: Vec::with_capacity(n),
            backoff: Vec::with_capacity(n),
            expires_at: Vec::with_capacity(n),
            partition_keys: Vec::with_capacity(n),
            keyed: jobs.iter().any(|job| job.idempotency.is_some()),
            idempotency_keys: Vec::new(),
            window_us: Vec::new(),
            key_now: Vec::new(),
        };
        for job in jobs {
            arrays.timeout_ms.push(job.timeout_ms());
            arrays.backoff.push(job.backoff);
            arrays.expires_at.push(job.expires_at);
            arrays.partition_keys.push(job.partition_key);
            arrays.queues.push(job.queue);
            arrays.kinds.push(job.kind);
            arrays.args.push(Json(job.args.into_raw()));
            arrays.priorities.push(job.priority);
            arrays.max_attempts.push(job.max_attempts);
            arrays.scheduled_at.push(job.scheduled_at);
            arrays
                .run_after_us
                .push(job.run_after.map(crate::storage::micros));
            arrays.tags.push(job.tags.into());
            arrays.metadata.push(job.metadata);
            arrays.replace.push(
                job.unique
                    .as_ref()
                    .is_some_and(|u| u.on_conflict == OnConflict::Replace),
            );
            arrays
                .unique_states
                .push(job.unique.as_ref().map(|u| u.states));
            arrays.unique_keys.push(job.unique.map(|u| u.key));
            arrays.fingerprints.push(job.fingerprint);
            if arrays.keyed {
                arrays.window_us.push(
                    job.idempotency
                        .as_ref()
                        .map(|i| crate::storage::micros(i.window)),
                );
                arrays
                    .key_now
                    .push(job.idempotency.as_ref().and_then(|i| i.now));
                arrays.idempotency_keys.push(job.idempotency.map(|i| i.key));
            }
        }
        arrays
    }

    /// The statement to run: [`SQL`], or [`SQL_IDEMPOTENT`] if some job has a key.
    pub(crate) fn sql(&self) -> &'static str {
        if self.keyed {
            SQL_IDEMPOTENT
        } else {
            SQL
        }
    }

    /// The parameters of [`InsertArrays::sql`]: `$1`..`$19`, and `$20`..`$22` if keyed.
    pub(crate) fn params(&self) -> Vec<&(dyn ToSql + Sync)> {
        let mut params: Vec<&(dyn ToSql + Sync)> = vec![
            &self.queues,
            &self.kinds,
            &self.args,
            &self.priorities,
            &self.max_attempts,
            &self.scheduled_at,
            &self.tags,
            &self.metadata,
            &self.channel,
            &self.unique_keys,
            &self.unique_states,
            &self.replace,
            &self.fingerprints,
            &self.notify,
            &self.run_after_us,
            &self.timeout_ms,
            &self.backoff,
            &self.expires_at,
            &self.partition_keys,
        ];
        if self.keyed {
            params.push(&self.idempotency_keys);
            params.push(&self.window_us);
            params.push(&self.key_now);
        }
        params
    }

    /// The parameters with their types, for `query_typed`.
    pub(crate) fn typed_params(&self) -> Vec<(&(dyn ToSql + Sync), Type)> {
        self.params().into_iter().zip(TYPES).collect()
    }
}

/// Decodes the statement's `(id, duplicate)` rows.
pub(crate) fn results(rows: &[tokio_postgres::Row]) -> Result<Vec<JobInsertResult>, Error> {
    rows.iter()
        .map(|row| {
            Ok(JobInsertResult {
                id: row.try_get("id").map_err(crate::error::decode)?,
                duplicate: row.try_get("duplicate").map_err(crate::error::decode)?,
            })
        })
        .collect()
}

impl PgStorage {
    pub(crate) async fn job_insert_many_impl(
        &self,
        mut params: JobInsertManyParams,
    ) -> Result<Vec<JobInsertResult>, Error> {
        if params.jobs.len() == 1 && crate::gather::gathers(&params.jobs[0]) {
            // One plain job: with the others inserted at this moment (src/gather.rs).
            let job = params.jobs.pop().expect("one job");
            return Ok(vec![self.job_insert_gathered(job).await?]);
        }
        self.job_insert_direct(params.jobs).await
    }

    /// The pooled insert of `jobs` in one statement (or one `COPY`) and one commit.
    pub(crate) async fn job_insert_direct(
        &self,
        jobs: Vec<JobInsert>,
    ) -> Result<Vec<JobInsertResult>, Error> {
        if jobs.is_empty() {
            return Ok(Vec::new());
        }
        backlog_storage::check_idempotency(&jobs)?;
        let mut batch = DedupedBatch::new(jobs);
        if crate::insert_copy::eligible(&batch.jobs) {
            let sent = self.job_insert_copy(&batch.jobs).await?;
            return Ok(batch.results(&sent));
        }
        let rows = match batch.jobs.as_slice() {
            [job]
                if job.unique.is_none()
                    && job.idempotency.is_none()
                    && job.partition_key.is_none() =>
            {
                // Custom-planned: a VALUES insert plans in microseconds, less than the two
                // switches of a generic plan would cost (src/plan.rs).
                let args = Json(job.args.raw());
                self.query(
                    include_str!("../sql/job_insert_one.sql"),
                    &[
                        &job.queue,
                        &job.kind,
                        &args,
                        &job.priority,
                        &job.max_attempts,
                        &job.scheduled_at,
                        &job.tags,
                        &job.metadata,
                        &job.fingerprint,
                        &job.run_after.map(micros),
                        &job.timeout_ms(),
                        &job.backoff,
                        &job.expires_at,
                    ],
                )
                .await?
            }
            _ => {
                let arrays = InsertArrays::new(
                    std::mem::take(&mut batch.jobs),
                    self.notify_channel(),
                    false,
                );
                self.query_generic(arrays.sql(), &arrays.params()).await?
            }
        };
        self.wake(available_queues(&rows, &[])?);
        Ok(batch.results(&results(&rows)?))
    }
}

/// The queues, each once, where the insert's `rows` made a job available, leaving out the jobs
/// in `claimed` (taken in the insert's own transaction, src/insert_fetch.rs): the queues to wake.
pub(crate) fn available_queues(
    rows: &[tokio_postgres::Row],
    claimed: &[backlog_types::JobId],
) -> Result<Vec<String>, Error> {
    let mut queues: Vec<String> = Vec::new();
    for row in rows {
        let available: bool = row.try_get("available").map_err(error::decode)?;
        if available && !claimed.contains(&row.try_get("id").map_err(error::decode)?) {
            let queue: String = row.try_get("queue").map_err(error::decode)?;
            if !queues.contains(&queue) {
                queues.push(queue);
            }
        }
    }
    Ok(queues)
}
