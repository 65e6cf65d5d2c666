//! Small builders the tests share.

use std::sync::Arc;
use std::time::Duration;

use backlog_storage::{
    JobFetchAvailableParams, JobFinish, JobFinishManyParams, JobInsert, JobInsertManyParams,
    JobOutcome, Storage,
};
use backlog_types::{JobId, JobRow, LeaseToken};
use chrono::{DateTime, Utc};
use serde_json::json;

pub(crate) type Db = Arc<dyn Storage>;

pub(crate) fn job(queue: &str, kind: &str) -> JobInsert {
    JobInsert::new(queue, kind, json!({}))
}

pub(crate) async fn insert(db: &Db, jobs: Vec<JobInsert>) -> Vec<JobId> {
    db.job_insert_many(JobInsertManyParams { jobs })
        .await
        .expect("insert")
        .into_iter()
        .map(|r| {
            assert!(!r.duplicate, "job {} unexpectedly a duplicate", r.id);
            r.id
        })
        .collect()
}

pub(crate) async fn insert_one(db: &Db, job: JobInsert) -> JobId {
    insert(db, vec![job]).await[0]
}

pub(crate) async fn fetch(db: &Db, queue: &str, max: u32) -> Vec<JobRow> {
    db.job_fetch_available(fetch_params(queue, max))
        .await
        .expect("fetch")
}

pub(crate) fn fetch_params(queue: &str, max: u32) -> JobFetchAvailableParams {
    JobFetchAvailableParams {
        queue: queue.to_owned(),
        max,
        worker_id: "worker-1".to_owned(),
        lease: Duration::from_secs(60),
        now: None,
        kinds: Vec::new(),
    }
}

pub(crate) async fn get(db: &Db, id: JobId) -> JobRow {
    db.job_get(id).await.expect("get").expect("job exists")
}

/// The lease token of a claimed row.
pub(crate) fn token(row: &JobRow) -> LeaseToken {
    row.lease_token
        .expect("a claimed job carries a lease token")
}

/// A token no claim drew (tokens are random; this one is fixed).
pub(crate) const STRANGER: LeaseToken = LeaseToken::from_bytes([0xee; 16]);

/// Asserts two instants are within `tolerance` of each other.
pub(crate) fn assert_close(a: DateTime<Utc>, b: DateTime<Utc>, tolerance: Duration, what: &str) {
    let diff = (a - b).abs().to_std().expect("non-negative");
    assert!(
        diff <= tolerance,
        "{what}: {a} and {b} differ by {diff:?} (> {tolerance:?})"
    );
}

/// Ends the attempts of `rows` with `outcomes`, pairwise, in one batch.
pub(crate) async fn finalize(db: &Db, rows: &[JobRow], outcomes: Vec<JobOutcome>) {
    let jobs = rows
        .iter()
        .zip(outcomes)
        .map(|(row, outcome)| JobFinish {
            id: row.id,
            lease_token: token(row),
            outcome,
            duration: Duration::ZERO,
            result: None,
        })
        .collect();
    db.job_finish_many(JobFinishManyParams { jobs })
        .await
        .unwrap();
}
