//! `job_finish_many`.

use std::time::Duration;

use backlog_storage::{Failure, JobFinish, JobFinishManyParams, JobOutcome};
use backlog_types::{JobRow, JobState};
use chrono::Utc;

use crate::support::{assert_close, fetch, get, insert, insert_one, job, token, Db, STRANGER};

async fn running(db: &Db) -> JobRow {
    insert_one(db, job("q", "k")).await;
    fetch(db, "q", 1).await.remove(0)
}

fn finish(row: &JobRow, outcome: JobOutcome) -> JobFinish {
    JobFinish {
        id: row.id,
        lease_token: token(row),
        outcome,
        duration: Duration::from_micros(1_500),
        result: None,
    }
}

async fn finish_many(db: &Db, jobs: Vec<JobFinish>) -> Vec<i64> {
    db.job_finish_many(JobFinishManyParams { jobs })
        .await
        .expect("finish")
}

/// Success: completed, finalized, lease released, duration recorded.
pub async fn completed(db: Db) {
    let row = running(&db).await;
    assert_eq!(
        finish_many(&db, vec![finish(&row, JobOutcome::Completed)]).await,
        vec![row.id]
    );
    let done = get(&db, row.id).await;
    assert_eq!(done.state, JobState::Completed);
    assert!(done.lease_expires_at.is_none());
    assert_close(
        done.finalized_at.unwrap(),
        Utc::now(),
        Duration::from_secs(5),
        "finalized_at",
    );
    assert_eq!(done.attempt_durations_us, vec![1_500]);
    assert!(done.errors.is_empty());
}

/// A failed attempt that will retry: retryable after the delay, error recorded.
pub async fn retry_records_error_and_delay(db: Db) {
    let row = running(&db).await;
    let outcome = JobOutcome::Retry {
        failure: Failure {
            message: "boom: disk full".into(),
            panicked: true,
            kind: Some("IOError".into()),
            backtrace: Some("  File \"worker.py\", line 3, in work\n    raise IOError()".into()),
        },
        delay: Duration::from_secs(120),
    };
    finish_many(&db, vec![finish(&row, outcome)]).await;
    let after = get(&db, row.id).await;
    assert_eq!(after.state, JobState::Retryable);
    assert!(after.finalized_at.is_none());
    assert!(after.lease_expires_at.is_none());
    assert_close(
        after.scheduled_at,
        Utc::now() + chrono::Duration::seconds(120),
        Duration::from_secs(5),
        "scheduled_at",
    );
    assert_eq!(after.errors.len(), 1);
    let error = &after.errors[0];
    assert_eq!(error.attempt, 1);
    assert_eq!(error.message, "boom: disk full");
    assert!(error.panicked);
    assert_eq!(
        error.kind.as_deref(),
        Some("IOError"),
        "the kind is kept apart"
    );
    assert_eq!(
        error.backtrace.as_deref(),
        Some("  File \"worker.py\", line 3, in work\n    raise IOError()"),
        "the backtrace is kept apart, line breaks and quotes intact"
    );
    assert_close(error.at, Utc::now(), Duration::from_secs(5), "error.at");
    assert_eq!(after.attempt_durations_us, vec![1_500]);
    assert!(
        fetch(&db, "q", 1).await.is_empty(),
        "not runnable before its delay"
    );
}

/// Discard and cancel are final and keep the reason.
pub async fn discard_and_cancel_are_final(db: Db) {
    let a = running(&db).await;
    let b = running(&db).await;
    finish_many(
        &db,
        vec![
            finish(
                &a,
                JobOutcome::Discard {
                    failure: Failure::error("bad input"),
                },
            ),
            finish(
                &b,
                JobOutcome::Cancel {
                    failure: Failure::error("user asked"),
                },
            ),
        ],
    )
    .await;
    let a = get(&db, a.id).await;
    let b = get(&db, b.id).await;
    assert_eq!(a.state, JobState::Discarded);
    assert_eq!(b.state, JobState::Cancelled);
    for row in [&a, &b] {
        assert!(row.finalized_at.is_some());
        assert_eq!(row.errors.len(), 1);
    }
    assert_eq!(a.errors[0].message, "bad input");
    assert_eq!(b.errors[0].message, "user asked");
}

/// Snooze: scheduled for later, the attempt is given back, no error.
pub async fn snooze_does_not_spend_an_attempt(db: Db) {
    let row = running(&db).await;
    finish_many(
        &db,
        vec![finish(
            &row,
            JobOutcome::Snooze {
                delay: Duration::from_secs(60),
            },
        )],
    )
    .await;
    let after = get(&db, row.id).await;
    assert_eq!(after.state, JobState::Scheduled);
    assert_eq!(after.attempt, 0);
    assert!(after.errors.is_empty());
    assert!(after.lease_expires_at.is_none());
    assert_close(
        after.scheduled_at,
        Utc::now() + chrono::Duration::seconds(60),
        Duration::from_secs(5),
        "scheduled_at",
    );
}

/// Only the execution holding a running job (its lease token) can finish it, and only once: a
/// retried write of the same outcome is reported applied without being applied again.
pub async fn is_fenced_on_state_and_token(db: Db) {
    let row = running(&db).await;
    let mut stale = finish(&row, JobOutcome::Completed);
    stale.lease_token = STRANGER;
    assert!(
        finish_many(&db, vec![stale]).await.is_empty(),
        "wrong token"
    );
    assert_eq!(get(&db, row.id).await.state, JobState::Running);

    assert_eq!(
        finish_many(&db, vec![finish(&row, JobOutcome::Completed)]).await,
        vec![row.id]
    );
    let again = finish(
        &row,
        JobOutcome::Discard {
            failure: Failure::error("late"),
        },
    );
    assert_eq!(
        finish_many(&db, vec![again]).await,
        vec![row.id],
        "a retried write of the same execution is already applied"
    );
    let done = get(&db, row.id).await;
    assert_eq!(done.state, JobState::Completed, "not applied twice");
    assert!(done.errors.is_empty(), "not applied twice");
    assert_eq!(done.attempt_durations_us.len(), 1, "not applied twice");

    let waiting = insert_one(&db, job("other", "k")).await;
    let not_running = JobFinish {
        id: waiting,
        lease_token: STRANGER,
        outcome: JobOutcome::Completed,
        duration: Duration::ZERO,
        result: None,
    };
    assert!(
        finish_many(&db, vec![not_running]).await.is_empty(),
        "never fetched"
    );
    assert_eq!(get(&db, waiting).await.state, JobState::Available);
}

/// An empty batch does nothing.
pub async fn empty_batch_is_a_no_op(db: Db) {
    assert!(finish_many(&db, Vec::new()).await.is_empty());
}

/// One batch mixing every outcome, as the completer sends it.
pub async fn mixed_batch(db: Db) {
    insert(&db, (0..200).map(|_| job("q", "k")).collect()).await;
    let rows = fetch(&db, "q", 200).await;
    assert_eq!(rows.len(), 200);
    let jobs: Vec<_> = rows
        .iter()
        .enumerate()
        .map(|(i, row)| {
            let outcome = match i % 4 {
                0 => JobOutcome::Completed,
                1 => JobOutcome::Retry {
                    failure: Failure::error("e"),
                    delay: Duration::from_secs(1),
                },
                2 => JobOutcome::Discard {
                    failure: Failure::error("d"),
                },
                _ => JobOutcome::Snooze {
                    delay: Duration::from_secs(1),
                },
            };
            finish(row, outcome)
        })
        .collect();
    let mut applied = finish_many(&db, jobs).await;
    applied.sort_unstable();
    let mut expected: Vec<_> = rows.iter().map(|r| r.id).collect();
    expected.sort_unstable();
    assert_eq!(applied, expected);
    for (i, row) in rows.iter().enumerate() {
        let state = get(&db, row.id).await.state;
        let want = [
            JobState::Completed,
            JobState::Retryable,
            JobState::Discarded,
            JobState::Scheduled,
        ][i % 4];
        assert_eq!(state, want, "job {} (#{i})", row.id);
    }
}
