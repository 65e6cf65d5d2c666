//! Fencing by execution: every claim draws its own lease token, and every write of an execution
//! (outcome, heartbeat, progress, result) must present it.

use std::time::Duration;

use backlog_storage::{
    JobFinish, JobFinishManyParams, JobHeartbeatManyParams, JobHeartbeatResult, JobOutcome,
    JobProgressSetParams, JobRescueParams, JobScheduleParams,
};
use backlog_types::{JobId, JobRow, JobState, LeaseToken};
use chrono::Utc;
use serde_json::json;

use crate::support::{fetch, fetch_params, get, insert_one, job, token, Db};

async fn heartbeat(db: &Db, id: JobId, lease_token: LeaseToken) -> JobHeartbeatResult {
    db.job_heartbeat_many(JobHeartbeatManyParams {
        jobs: vec![(id, lease_token)],
        lease: Duration::from_secs(60),
    })
    .await
    .expect("heartbeat")
}

async fn progress(db: &Db, id: JobId, lease_token: LeaseToken) -> bool {
    db.job_progress_set(JobProgressSetParams {
        id,
        lease_token,
        progress: json!({"percent": 50}),
    })
    .await
    .expect("progress")
}

async fn finish(db: &Db, id: JobId, lease_token: LeaseToken, outcome: JobOutcome) -> Vec<JobId> {
    db.job_finish_many(JobFinishManyParams {
        jobs: vec![JobFinish {
            id,
            lease_token,
            outcome,
            duration: Duration::from_millis(1),
            result: Some(json!(lease_token.to_string())),
        }],
    })
    .await
    .expect("finish")
}

/// Makes every scheduled or retryable job due, as the scheduler would a minute from now.
async fn promote(db: &Db) {
    db.job_schedule(JobScheduleParams {
        now: Some(Utc::now() + chrono::Duration::minutes(1)),
        max: 100,
    })
    .await
    .expect("schedule");
}

/// Every claim gets a fresh token, even of the same job.
pub async fn every_claim_draws_a_new_token(db: Db) {
    let id = insert_one(&db, job("q", "k")).await;
    let first = fetch(&db, "q", 1).await.remove(0);
    assert_eq!(get(&db, id).await.lease_token, first.lease_token);
    finish(
        &db,
        id,
        token(&first),
        JobOutcome::Snooze {
            delay: Duration::ZERO,
        },
    )
    .await;
    promote(&db).await;
    let second = fetch(&db, "q", 1).await.remove(0);
    assert_ne!(token(&first), token(&second));
}

/// Two executions with the same attempt number, as after a claim lost in a database crash:
/// the claim's transaction never reached the disk, so the job is available again at the same
/// attempt and is claimed a second time while the first holder still runs it. The row state
/// is reproduced here with a snooze (which gives the attempt back) and a promotion. Every
/// write of the first holder is refused; the second holder's apply.
pub async fn lost_claim_fences_the_older_holder(db: Db) {
    let id = insert_one(&db, job("q", "k")).await;
    let older: JobRow = fetch(&db, "q", 1).await.remove(0);
    finish(
        &db,
        id,
        token(&older),
        JobOutcome::Snooze {
            delay: Duration::ZERO,
        },
    )
    .await;
    promote(&db).await;
    let newer = fetch(&db, "q", 1).await.remove(0);
    assert_eq!(newer.id, id);
    assert_eq!(newer.attempt, older.attempt, "same attempt number");

    assert_eq!(heartbeat(&db, id, token(&older)).await.lost, vec![id]);
    assert!(!progress(&db, id, token(&older)).await, "older progress");
    assert!(
        finish(&db, id, token(&older), JobOutcome::Completed)
            .await
            .is_empty(),
        "older outcome"
    );
    let row = get(&db, id).await;
    assert_eq!(row.state, JobState::Running);
    assert_eq!(row.lease_token, newer.lease_token);
    assert_eq!(row.progress, None);

    assert_eq!(
        heartbeat(&db, id, token(&newer)).await,
        JobHeartbeatResult::default()
    );
    assert!(progress(&db, id, token(&newer)).await, "newer progress");
    assert_eq!(
        finish(&db, id, token(&newer), JobOutcome::Completed).await,
        vec![id]
    );
    let row = get(&db, id).await;
    assert_eq!(row.state, JobState::Completed);
    assert_eq!(row.result, Some(json!(token(&newer).to_string())));
}

/// A rescue takes the job from its execution: that execution's late writes are refused and its
/// heartbeat reports the job lost.
pub async fn rescue_fences_the_stalled_holder(db: Db) {
    let id = insert_one(&db, job("q", "k")).await;
    let mut params = fetch_params("q", 1);
    params.lease = Duration::from_secs(1);
    let stalled = db.job_fetch_available(params).await.unwrap().remove(0);
    db.job_rescue(JobRescueParams {
        now: Some(Utc::now() + chrono::Duration::minutes(1)),
        max: 10,
        poison_threshold: 0,
    })
    .await
    .unwrap();
    assert_eq!(get(&db, id).await.lease_token, None);
    assert_eq!(heartbeat(&db, id, token(&stalled)).await.lost, vec![id]);
    assert!(finish(&db, id, token(&stalled), JobOutcome::Completed)
        .await
        .is_empty());
    assert_eq!(get(&db, id).await.state, JobState::Retryable);
}

/// A heartbeat that races the execution's own outcome (the outcome committed first) reports
/// nothing lost: only real losses are.
pub async fn heartbeat_after_own_outcome_is_not_a_loss(db: Db) {
    let id = insert_one(&db, job("q", "k")).await;
    let row = fetch(&db, "q", 1).await.remove(0);
    assert_eq!(
        finish(&db, id, token(&row), JobOutcome::Completed).await,
        vec![id]
    );
    assert_eq!(
        heartbeat(&db, id, token(&row)).await,
        JobHeartbeatResult::default()
    );
    let done = get(&db, id).await;
    assert_eq!(done.state, JobState::Completed);
    assert_eq!(done.lease_expires_at, None, "a finished job gets no lease");
}

/// A rescued job keeps its place in the run order: it runs before jobs enqueued after it.
pub async fn rescued_job_keeps_its_place(db: Db) {
    let early = insert_one(&db, job("q", "k")).await;
    let mut params = fetch_params("q", 1);
    params.lease = Duration::from_secs(1);
    let claimed = db.job_fetch_available(params).await.unwrap().remove(0);
    assert_eq!(claimed.id, early);
    let later = insert_one(&db, job("q", "k")).await;
    let now = Utc::now() + chrono::Duration::minutes(1);
    let rescued = db
        .job_rescue(JobRescueParams {
            now: Some(now),
            max: 10,
            poison_threshold: 0,
        })
        .await
        .unwrap();
    assert_eq!(rescued, vec![early]);
    let row = get(&db, early).await;
    assert_eq!(row.scheduled_at, claimed.scheduled_at, "scheduled_at kept");
    promote(&db).await;
    let next = fetch(&db, "q", 1).await.remove(0);
    assert_eq!(next.id, early, "rescued job first, not job {later}");
}

/// An attempt handed back with no delay (interrupted by shutdown or a lost lease, or never
/// started) keeps its place too; a real backoff moves the job back.
pub async fn zero_delay_keeps_its_place(db: Db) {
    let early = insert_one(&db, job("q", "k")).await;
    let claimed = fetch(&db, "q", 1).await.remove(0);
    let later = insert_one(&db, job("q", "k")).await;
    let interrupted = JobOutcome::Retry {
        failure: backlog_storage::Failure::error("interrupted"),
        delay: Duration::ZERO,
    };
    assert_eq!(
        finish(&db, early, token(&claimed), interrupted).await,
        vec![early]
    );
    assert_eq!(get(&db, early).await.scheduled_at, claimed.scheduled_at);
    promote(&db).await;
    let next = fetch(&db, "q", 1).await.remove(0);
    assert_eq!(next.id, early, "handed-back job first, not job {later}");

    let backoff = JobOutcome::Retry {
        failure: backlog_storage::Failure::error("failed"),
        delay: Duration::from_secs(1),
    };
    finish(&db, early, token(&next), backoff).await;
    assert!(get(&db, early).await.scheduled_at > claimed.scheduled_at);
}

/// `run_after` is counted on the database's clock at insert, in single and bulk inserts.
pub async fn run_after_counts_on_the_database_clock(db: Db) {
    let mut single = job("q", "k");
    single.run_after = Some(Duration::from_secs(3600));
    let before = db.now().await.unwrap();
    let one = insert_one(&db, single.clone()).await;
    let many = crate::support::insert(&db, vec![single, job("q", "k")]).await;
    let after = db.now().await.unwrap();
    for id in [one, many[0]] {
        let row = get(&db, id).await;
        assert_eq!(row.state, JobState::Scheduled);
        let hour = chrono::Duration::hours(1);
        assert!(
            row.scheduled_at >= before + hour && row.scheduled_at <= after + hour,
            "{} not an hour after the insert ({before} .. {after})",
            row.scheduled_at
        );
    }
    assert_eq!(get(&db, many[1]).await.state, JobState::Available);
}
