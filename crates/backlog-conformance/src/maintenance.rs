//! Heartbeats, the scheduler's promotion, the rescuer and the cleaner.

use std::time::Duration;

use backlog_storage::{
    Failure, JobDeleteFinalizedParams, JobFinish, JobFinishManyParams, JobHeartbeatManyParams,
    JobOutcome, JobRescueParams, JobScheduleParams, QueueCount,
};
use backlog_types::JobState;
use chrono::Utc;

use crate::support::{
    assert_close, fetch, fetch_params, finalize, get, insert, insert_one, job, token, Db, STRANGER,
};

/// A heartbeat pushes the lease forward; jobs the worker lost are reported.
pub async fn heartbeat_renews_lease_and_reports_lost(db: Db) {
    insert(&db, vec![job("q", "k"), job("q", "k")]).await;
    let rows = fetch(&db, "q", 2).await;
    let (a, b) = (&rows[0], &rows[1]);
    let result = db
        .job_heartbeat_many(JobHeartbeatManyParams {
            jobs: vec![(a.id, token(a)), (b.id, STRANGER), (999_999, STRANGER)],
            lease: Duration::from_secs(600),
        })
        .await
        .unwrap();
    let mut lost = result.lost.clone();
    lost.sort_unstable();
    assert_eq!(lost, vec![b.id, 999_999]);
    let renewed = get(&db, a.id).await.lease_expires_at.unwrap();
    assert_close(
        renewed,
        Utc::now() + chrono::Duration::seconds(600),
        Duration::from_secs(5),
        "renewed lease",
    );
    assert_eq!(get(&db, b.id).await.lease_expires_at, b.lease_expires_at);
}

/// Scheduled and retryable jobs become available when their time comes, not before.
pub async fn schedule_promotes_due_jobs(db: Db) {
    let at = Utc::now() + chrono::Duration::hours(1);
    let mut later = job("s", "k");
    later.scheduled_at = Some(at);
    let id = insert_one(&db, later).await;
    let mut other = job("t", "k");
    other.scheduled_at = Some(at + chrono::Duration::hours(1));
    insert_one(&db, other).await;

    let next = db.job_next_scheduled_at().await.unwrap().expect("next");
    assert_close(next, at, Duration::from_millis(1), "next scheduled");
    let none = db
        .job_schedule(JobScheduleParams {
            now: None,
            max: 100,
        })
        .await
        .unwrap();
    assert!(none.is_empty(), "{none:?}");
    assert_eq!(get(&db, id).await.state, JobState::Scheduled);

    let promoted = db
        .job_schedule(JobScheduleParams {
            now: Some(at + chrono::Duration::seconds(1)),
            max: 100,
        })
        .await
        .unwrap();
    assert_eq!(
        promoted,
        vec![QueueCount {
            queue: "s".into(),
            count: 1
        }]
    );
    assert_eq!(get(&db, id).await.state, JobState::Available);
    assert_eq!(fetch(&db, "s", 1).await.len(), 1);

    // A retryable job is promoted the same way.
    insert_one(&db, job("r", "k")).await;
    let row = fetch(&db, "r", 1).await.remove(0);
    db.job_finish_many(JobFinishManyParams {
        jobs: vec![JobFinish {
            id: row.id,
            lease_token: token(&row),
            outcome: JobOutcome::Retry {
                failure: Failure::error("x"),
                delay: Duration::from_secs(30),
            },
            duration: Duration::ZERO,
            result: None,
        }],
    })
    .await
    .unwrap();
    let later = Utc::now() + chrono::Duration::minutes(5);
    let promoted = db
        .job_schedule(JobScheduleParams {
            now: Some(later),
            max: 100,
        })
        .await
        .unwrap();
    assert!(
        promoted.contains(&QueueCount {
            queue: "r".into(),
            count: 1
        }),
        "{promoted:?}"
    );
    assert_eq!(get(&db, row.id).await.state, JobState::Available);
}

/// Expired leases are rescued: retryable with an error, or discarded when out of attempts.
pub async fn rescue_expired_leases(db: Db) {
    let retry = insert_one(&db, job("q", "k")).await;
    let mut last = job("q", "k");
    last.max_attempts = 1;
    let discard = insert_one(&db, last).await;
    let mut params = fetch_params("q", 10);
    params.lease = Duration::from_secs(30);
    assert_eq!(db.job_fetch_available(params).await.unwrap().len(), 2);
    let untouched = insert_one(&db, job("fresh", "k")).await;
    fetch(&db, "fresh", 1).await;

    let early = db
        .job_rescue(JobRescueParams {
            now: None,
            max: 100,
            poison_threshold: 0,
        })
        .await
        .unwrap();
    assert!(early.is_empty(), "leases still valid: {early:?}");

    let later = Utc::now() + chrono::Duration::seconds(45);
    let mut rescued = db
        .job_rescue(JobRescueParams {
            now: Some(later),
            max: 100,
            poison_threshold: 0,
        })
        .await
        .unwrap();
    rescued.sort_unstable();
    assert_eq!(rescued, vec![retry, discard]);
    let r = get(&db, retry).await;
    assert_eq!(r.state, JobState::Retryable);
    assert!(r.lease_expires_at.is_none());
    assert_eq!(r.errors.len(), 1);
    assert!(
        r.errors[0].message.contains("lease expired"),
        "{}",
        r.errors[0].message
    );
    let d = get(&db, discard).await;
    assert_eq!(d.state, JobState::Discarded);
    assert!(d.finalized_at.is_some());
    assert_eq!(
        get(&db, untouched).await.state,
        JobState::Running,
        "lease of 60 s not expired"
    );
}

/// The cleaner deletes finalized jobs older than each state's cutoff, and nothing else.
pub async fn delete_finalized_respects_cutoffs(db: Db) {
    insert(&db, (0..3).map(|_| job("q", "k")).collect()).await;
    let rows = fetch(&db, "q", 3).await;
    let outcomes = [
        JobOutcome::Completed,
        JobOutcome::Discard {
            failure: Failure::error("x"),
        },
        JobOutcome::Cancel {
            failure: Failure::error("y"),
        },
    ];
    finalize(&db, &rows, outcomes.to_vec()).await;
    let waiting = insert_one(&db, job("q", "k")).await;

    let past = Utc::now() - chrono::Duration::hours(1);
    let future = Utc::now() + chrono::Duration::hours(1);
    let none = db
        .job_delete_finalized(JobDeleteFinalizedParams {
            completed_before: Some(past),
            cancelled_before: Some(past),
            discarded_before: Some(past),
            max: 100,
            archive: false,
        })
        .await
        .unwrap();
    assert_eq!(none, 0);
    let deleted = db
        .job_delete_finalized(JobDeleteFinalizedParams {
            completed_before: Some(future),
            cancelled_before: None,
            discarded_before: Some(future),
            max: 100,
            archive: false,
        })
        .await
        .unwrap();
    assert_eq!(deleted, 2);
    assert!(db.job_get(rows[0].id).await.unwrap().is_none());
    assert!(db.job_get(rows[1].id).await.unwrap().is_none());
    assert_eq!(get(&db, rows[2].id).await.state, JobState::Cancelled);
    assert_eq!(get(&db, waiting).await.state, JobState::Available);
}
