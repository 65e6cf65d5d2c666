//! Transactional enqueue on an sqlx connection (feature `sqlx`), with the same SQL as the
//! pooled insert.

use backlog_storage::{
    DedupedBatch, Error, ErrorKind, JobInsertManyParams, JobInsertResult, OnConflict,
};
use backlog_types::JobId;
use tokio_postgres::error::SqlState;

use crate::{error, PgStorage};

const ENTER: &str = include_str!("../sql/search_path_enter.sql");
const LEAVE: &str = include_str!("../sql/search_path_leave.sql");

pub(crate) async fn insert(
    storage: &PgStorage,
    conn: &mut sqlx::PgConnection,
    params: JobInsertManyParams,
) -> Result<Vec<JobInsertResult>, Error> {
    if params.jobs.is_empty() {
        return Ok(Vec::new());
    }
    backlog_storage::check_idempotency(&params.jobs)?;
    let mut batch = DedupedBatch::new(params.jobs);
    let jobs = std::mem::take(&mut batch.jobs);
    let keyed = jobs.iter().any(|job| job.idempotency.is_some());
    let mut idempotency_keys: Vec<Option<String>> = Vec::new();
    let mut window_us: Vec<Option<i64>> = Vec::new();
    let mut key_now: Vec<Option<chrono::DateTime<chrono::Utc>>> = Vec::new();
    let n = jobs.len();
    let mut queues = Vec::with_capacity(n);
    let mut kinds = Vec::with_capacity(n);
    let mut args = Vec::with_capacity(n);
    let mut priorities = Vec::with_capacity(n);
    let mut max_attempts = Vec::with_capacity(n);
    let mut scheduled_at = Vec::with_capacity(n);
    let mut tags = Vec::with_capacity(n);
    let mut metadata = Vec::with_capacity(n);
    let mut unique_keys: Vec<Option<Vec<u8>>> = Vec::with_capacity(n);
    let mut unique_states: Vec<Option<i16>> = Vec::with_capacity(n);
    let mut replace = Vec::with_capacity(n);
    let mut fingerprints: Vec<Option<String>> = Vec::with_capacity(n);
    let mut run_after_us: Vec<Option<i64>> = Vec::with_capacity(n);
    let mut timeout_ms: Vec<Option<i64>> = Vec::with_capacity(n);
    let mut backoff: Vec<Option<serde_json::Value>> = Vec::with_capacity(n);
    let mut expires_at: Vec<Option<chrono::DateTime<chrono::Utc>>> = Vec::with_capacity(n);
    let mut partition_keys: Vec<Option<String>> = Vec::with_capacity(n);
    for job in jobs {
        timeout_ms.push(job.timeout_ms());
        backoff.push(job.backoff);
        expires_at.push(job.expires_at);
        partition_keys.push(job.partition_key);
        if keyed {
            window_us.push(
                job.idempotency
                    .as_ref()
                    .map(|i| crate::storage::micros(i.window)),
            );
            key_now.push(job.idempotency.as_ref().and_then(|i| i.now));
            idempotency_keys.push(job.idempotency.map(|i| i.key));
        }
        run_after_us.push(job.run_after.map(crate::storage::micros));
        queues.push(job.queue);
        kinds.push(job.kind);
        args.push(sqlx::types::Json(job.args.into_raw()));
        priorities.push(job.priority);
        max_attempts.push(job.max_attempts);
        scheduled_at.push(job.scheduled_at);
        tags.push(serde_json::Value::from(job.tags));
        metadata.push(job.metadata);
        replace.push(
            job.unique
                .as_ref()
                .is_some_and(|u| u.on_conflict == OnConflict::Replace),
        );
        unique_states.push(job.unique.as_ref().map(|u| u.states));
        unique_keys.push(job.unique.map(|u| u.key));
        fingerprints.push(job.fingerprint);
    }
    sqlx::query(ENTER)
        .bind(storage.schema())
        .execute(&mut *conn)
        .await
        .map_err(sqlx_error)?;
    let sql = if keyed {
        crate::insert::SQL_IDEMPOTENT
    } else {
        crate::insert::SQL
    };
    let mut query = sqlx::query_as(sql)
        .bind(queues)
        .bind(kinds)
        .bind(args)
        .bind(priorities)
        .bind(max_attempts)
        .bind(scheduled_at)
        .bind(tags)
        .bind(metadata)
        .bind(storage.notify_channel())
        .bind(unique_keys)
        .bind(unique_states)
        .bind(replace)
        .bind(fingerprints)
        .bind(true)
        .bind(run_after_us)
        .bind(timeout_ms)
        .bind(backoff)
        .bind(expires_at)
        .bind(partition_keys);
    if keyed {
        query = query.bind(idempotency_keys).bind(window_us).bind(key_now);
    }
    let result: Result<Vec<(JobId, bool)>, sqlx::Error> = query.fetch_all(&mut *conn).await;
    let leave = sqlx::query(LEAVE).execute(&mut *conn).await;
    let rows = result.map_err(sqlx_error)?;
    leave.map_err(sqlx_error)?;
    let sent: Vec<JobInsertResult> = rows
        .into_iter()
        .map(|(id, duplicate)| JobInsertResult { id, duplicate })
        .collect();
    Ok(batch.results(&sent))
}

fn sqlx_error(err: sqlx::Error) -> Error {
    let kind = match &err {
        sqlx::Error::Database(db) => db
            .code()
            .map(|code| error::kind_of(&SqlState::from_code(&code)))
            .unwrap_or(ErrorKind::Database),
        sqlx::Error::ColumnDecode { .. } | sqlx::Error::Decode(_) => ErrorKind::Decode,
        // The connection broke with the statement in flight.
        sqlx::Error::Io(_) => ErrorKind::OutcomeUnknown,
        _ => ErrorKind::Unavailable,
    };
    let message = match &err {
        sqlx::Error::Database(db) => db.message().to_owned(),
        _ => "PostgreSQL error".to_owned(),
    };
    Error::new(kind, message).with_source(err)
}
