//! Cancelling one job or many by filter (including running jobs), unique keys and fingerprints.

use backlog_storage::{
    Event, JobCancelParams, JobCancelResult, JobFilter, JobHeartbeatManyParams, JobInsert,
    JobInsertManyParams, JobListParams, OnConflict, UniqueInsert,
};
use backlog_types::JobState;
use chrono::Utc;
use serde_json::json;
use std::time::Duration;

use crate::support::{fetch, get, insert, insert_one, job, Db};

fn unique(mut job: JobInsert, key: &[u8], on_conflict: OnConflict) -> JobInsert {
    job.unique = Some(UniqueInsert {
        key: key.to_vec(),
        states: JobState::mask(&[
            JobState::Available,
            JobState::Scheduled,
            JobState::Running,
            JobState::Retryable,
        ]),
        on_conflict,
    });
    job
}

fn params(id: i64, kind: Option<&str>, request_running: bool) -> JobCancelParams {
    JobCancelParams {
        id,
        kind: kind.map(str::to_owned),
        request_running,
    }
}

/// One job: waiting jobs are cancelled, a wrong kind changes nothing, finished and missing
/// jobs are reported as such.
pub async fn cancel_one_checks_kind_and_state(db: Db) {
    let id = insert_one(&db, job("q", "k")).await;
    let result = db
        .job_cancel(params(id, Some("other"), true))
        .await
        .unwrap();
    assert!(
        matches!(result, JobCancelResult::WrongKind(_)),
        "{result:?}"
    );
    assert_eq!(get(&db, id).await.state, JobState::Available);
    let result = db.job_cancel(params(id, Some("k"), false)).await.unwrap();
    assert!(matches!(result, JobCancelResult::Cancelled(ref row) if row.args == json!({})));
    assert_eq!(get(&db, id).await.state, JobState::Cancelled);
    let result = db.job_cancel(params(id, None, true)).await.unwrap();
    assert!(
        matches!(result, JobCancelResult::Finalized(_)),
        "{result:?}"
    );
    let result = db.job_cancel(params(id + 1000, None, true)).await.unwrap();
    assert_eq!(result, JobCancelResult::NotFound);
}

/// A running job is left alone unless asked; asked, it gets `cancel_requested_at`, subscribers
/// hear about it, heartbeats report it, and it stays running until its worker finishes it.
pub async fn cancel_requests_running_jobs(db: Db) {
    let mut rx = db.event_subscribe().await.unwrap();
    let id = insert_one(&db, job("q", "k")).await;
    let running = fetch(&db, "q", 1).await;
    let held = crate::support::token(&running[0]);
    assert_eq!(running[0].id, id);
    let result = db.job_cancel(params(id, None, false)).await.unwrap();
    assert!(matches!(result, JobCancelResult::Running(_)), "{result:?}");
    assert_eq!(get(&db, id).await.cancel_requested_at, None);

    let result = db.job_cancel(params(id, None, true)).await.unwrap();
    assert!(
        matches!(result, JobCancelResult::CancelRequested(_)),
        "{result:?}"
    );
    let row = get(&db, id).await;
    assert_eq!(row.state, JobState::Running);
    assert!(row.cancel_requested_at.is_some());
    let wait = async {
        loop {
            if let Ok(Event::CancelRequested { ids }) = rx.recv().await {
                return ids;
            }
        }
    };
    let ids = tokio::time::timeout(Duration::from_secs(10), wait)
        .await
        .expect("cancel signal");
    assert_eq!(ids, vec![id]);
    let beat = db
        .job_heartbeat_many(JobHeartbeatManyParams {
            jobs: vec![(id, held)],
            lease: Duration::from_secs(60),
        })
        .await
        .unwrap();
    assert!(beat.lost.is_empty());
    assert_eq!(beat.cancel_requested, vec![id]);
}

/// Cancel by filter: waiting jobs matching every criterion are cancelled, running ones get a
/// request; an empty filter is refused.
pub async fn cancel_and_retry_by_filter(db: Db) {
    assert!(db.job_cancel_by_filter(JobFilter::default()).await.is_err());
    let ids = insert(
        &db,
        vec![
            job("a", "k"),
            job("a", "other"),
            job("b", "k"),
            job("a", "k"),
        ],
    )
    .await;
    let running = fetch(&db, "a", 1).await[0].id;
    assert_eq!(running, ids[0]);
    let result = db
        .job_cancel_by_filter(JobFilter {
            queue: Some("a".into()),
            kind: Some("k".into()),
            ..JobFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(result.cancelled, vec![ids[3]]);
    assert_eq!(result.cancel_requested, vec![ids[0]]);
    assert_eq!(get(&db, ids[1]).await.state, JobState::Available);
    assert_eq!(get(&db, ids[2]).await.state, JobState::Available);

    let only_waiting = db
        .job_cancel_by_filter(JobFilter {
            states: vec![JobState::Available],
            ids: vec![ids[1], ids[0]],
            ..JobFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(only_waiting.cancelled, vec![ids[1]]);
    assert!(only_waiting.cancel_requested.is_empty());

    let retried = db
        .job_retry_by_filter(JobFilter {
            queue: Some("a".into()),
            states: vec![JobState::Cancelled],
            ..JobFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(retried, vec![ids[1], ids[3]]);
    assert_eq!(get(&db, ids[3]).await.state, JobState::Available);
}

/// Skip: a second insert with a live key returns the existing id flagged duplicate; once the
/// holder leaves the mask's states, the key is free again.
pub async fn unique_skip_and_states(db: Db) {
    let first = db
        .job_insert_many(JobInsertManyParams {
            jobs: vec![unique(job("q", "k"), b"key", OnConflict::Skip)],
        })
        .await
        .unwrap();
    assert!(!first[0].duplicate);
    let again = db
        .job_insert_many(JobInsertManyParams {
            jobs: vec![
                job("q", "k"),
                unique(job("q", "k"), b"key", OnConflict::Skip),
                unique(job("q", "k"), b"other", OnConflict::Skip),
                unique(job("q", "k"), b"other", OnConflict::Skip),
            ],
        })
        .await
        .unwrap();
    assert!(!again[0].duplicate);
    assert_eq!((again[1].id, again[1].duplicate), (first[0].id, true));
    assert!(!again[2].duplicate);
    assert_eq!((again[3].id, again[3].duplicate), (again[2].id, true));
    assert_eq!(
        db.job_list(JobListParams::default()).await.unwrap().len(),
        3
    );
    // Cancelled is outside the mask: the key is free.
    db.job_cancel(params(first[0].id, None, true))
        .await
        .unwrap();
    let fresh = db
        .job_insert_many(JobInsertManyParams {
            jobs: vec![unique(job("q", "k"), b"key", OnConflict::Skip)],
        })
        .await
        .unwrap();
    assert!(!fresh[0].duplicate);
    assert_ne!(fresh[0].id, first[0].id);
}

/// Replace moves a job that has not started to the new args and run time; a running one is
/// left alone.
pub async fn unique_replace(db: Db) {
    let later = Utc::now() + chrono::Duration::hours(1);
    let mut scheduled = unique(job("q", "k"), b"key", OnConflict::Replace);
    scheduled.scheduled_at = Some(later);
    let first = db
        .job_insert_many(JobInsertManyParams {
            jobs: vec![scheduled],
        })
        .await
        .unwrap()[0];
    assert_eq!(get(&db, first.id).await.state, JobState::Scheduled);
    let mut now = unique(job("q", "k"), b"key", OnConflict::Replace);
    now.args = json!({"n": 2}).into();
    let second = db
        .job_insert_many(JobInsertManyParams { jobs: vec![now] })
        .await
        .unwrap()[0];
    assert_eq!((second.id, second.duplicate), (first.id, true));
    let row = get(&db, first.id).await;
    assert_eq!(row.state, JobState::Available);
    assert_eq!(row.args, json!({"n": 2}));

    fetch(&db, "q", 1).await;
    let mut third = unique(job("q", "k"), b"key", OnConflict::Replace);
    third.args = json!({"n": 3}).into();
    let third = db
        .job_insert_many(JobInsertManyParams { jobs: vec![third] })
        .await
        .unwrap()[0];
    assert_eq!((third.id, third.duplicate), (first.id, true));
    let row = get(&db, first.id).await;
    assert_eq!(row.state, JobState::Running);
    assert_eq!(row.args, json!({"n": 2}));
}

/// Fingerprints are stored, listed by, and not unique.
pub async fn fingerprint_filter(db: Db) {
    let mut a = job("q", "k");
    a.fingerprint = Some("order-7".into());
    let ids = insert(&db, vec![a.clone(), a, job("q", "k")]).await;
    let listed = db
        .job_list(JobListParams {
            fingerprint: Some("order-7".into()),
            ..JobListParams::default()
        })
        .await
        .unwrap();
    let listed: Vec<_> = listed.iter().map(|r| r.id).collect();
    assert_eq!(listed, vec![ids[1], ids[0]]);
    assert_eq!(
        get(&db, ids[0]).await.fingerprint.as_deref(),
        Some("order-7")
    );
}

/// The read-only poll lists exactly the running jobs with a cancellation request.
pub async fn cancel_requested_poll(db: Db) {
    insert(&db, vec![job("q", "k"), job("q", "k")]).await;
    let rows = fetch(&db, "q", 2).await;
    let waiting = insert_one(&db, job("other", "k")).await;
    let ids = vec![rows[0].id, rows[1].id, waiting, 77_777];
    let none = db
        .job_cancel_requested(backlog_storage::JobIdsParams { ids: ids.clone() })
        .await
        .unwrap();
    assert!(none.is_empty(), "{none:?}");
    db.job_cancel(backlog_storage::JobCancelParams {
        id: rows[1].id,
        kind: None,
        request_running: true,
    })
    .await
    .unwrap();
    let requested = db
        .job_cancel_requested(backlog_storage::JobIdsParams { ids })
        .await
        .unwrap();
    assert_eq!(requested, vec![rows[1].id]);
    assert!(db
        .job_cancel_requested(backlog_storage::JobIdsParams::default())
        .await
        .unwrap()
        .is_empty());
}
