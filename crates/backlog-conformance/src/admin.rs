//! Reads and administrative writes: get, list, counts, cancel, retry, truncate, migrations.

use std::time::Duration;

use backlog_storage::{
    Failure, JobFilter, JobFinish, JobFinishManyParams, JobListParams, JobOutcome, StateCount,
};
use backlog_types::JobState;
use chrono::Utc;

use crate::support::{assert_close, fetch, get, insert, insert_one, job, Db};

/// A missing id is `None`, not an error.
pub async fn get_missing_is_none(db: Db) {
    assert!(db.job_get(123_456_789).await.unwrap().is_none());
}

/// Filters by state, queue and kind; newest first; keyset pages.
pub async fn list_filters_and_paginates(db: Db) {
    let ids = insert(
        &db,
        vec![
            job("a", "x"),
            job("a", "y"),
            job("b", "x"),
            job("b", "y"),
            job("a", "x"),
        ],
    )
    .await;
    fetch(&db, "b", 1).await; // ids[2] is running now

    let all = db.job_list(JobListParams::default()).await.unwrap();
    let all_ids: Vec<_> = all.iter().map(|r| r.id).collect();
    assert_eq!(all_ids, ids.iter().rev().copied().collect::<Vec<_>>());

    let by_queue = db
        .job_list(JobListParams {
            queue: Some("a".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(
        by_queue.iter().map(|r| r.id).collect::<Vec<_>>(),
        vec![ids[4], ids[1], ids[0]]
    );

    let by_kind = db
        .job_list(JobListParams {
            kind: Some("y".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(
        by_kind.iter().map(|r| r.id).collect::<Vec<_>>(),
        vec![ids[3], ids[1]]
    );

    let running = db
        .job_list(JobListParams {
            states: vec![JobState::Running],
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(
        running.iter().map(|r| r.id).collect::<Vec<_>>(),
        vec![ids[2]]
    );

    let both = db
        .job_list(JobListParams {
            states: vec![JobState::Running, JobState::Available],
            queue: Some("b".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(both.len(), 2);

    let page1 = db
        .job_list(JobListParams {
            limit: 2,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(
        page1.iter().map(|r| r.id).collect::<Vec<_>>(),
        vec![ids[4], ids[3]]
    );
    let page2 = db
        .job_list(JobListParams {
            limit: 2,
            before_id: Some(ids[3]),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(
        page2.iter().map(|r| r.id).collect::<Vec<_>>(),
        vec![ids[2], ids[1]]
    );
}

/// Counts per queue and state.
pub async fn count_by_state(db: Db) {
    insert(&db, vec![job("a", "k"), job("a", "k"), job("b", "k")]).await;
    fetch(&db, "a", 1).await;
    let mut counts = db.job_count_by_state().await.unwrap();
    counts.sort_by(|x, y| (&x.queue, x.state).cmp(&(&y.queue, y.state)));
    assert_eq!(
        counts,
        vec![
            StateCount {
                queue: "a".into(),
                state: JobState::Available,
                count: 1
            },
            StateCount {
                queue: "a".into(),
                state: JobState::Running,
                count: 1
            },
            StateCount {
                queue: "b".into(),
                state: JobState::Available,
                count: 1
            },
        ]
    );
}

/// The depth gauges' count: the unfinished states per queue, never a finished one.
pub async fn count_unfinished_leaves_out_finished_jobs(db: Db) {
    let mut later = job("a", "k");
    later.scheduled_at = Some(Utc::now() + chrono::Duration::hours(1));
    insert(
        &db,
        vec![
            job("a", "k"),
            job("a", "k"),
            job("a", "k"),
            job("a", "k"),
            later,
        ],
    )
    .await;
    insert(&db, vec![job("b", "k")]).await;
    let claimed = fetch(&db, "a", 3).await;
    let finish = |row: &backlog_types::JobRow, outcome| JobFinish {
        id: row.id,
        lease_token: crate::support::token(row),
        outcome,
        duration: Duration::ZERO,
        result: None,
    };
    db.job_finish_many(JobFinishManyParams {
        jobs: vec![
            finish(&claimed[0], JobOutcome::Completed),
            finish(
                &claimed[1],
                JobOutcome::Retry {
                    failure: Failure::error("later"),
                    delay: Duration::from_secs(3600),
                },
            ),
        ],
    })
    .await
    .unwrap();
    let mut counts = db.job_count_unfinished().await.unwrap();
    counts.sort_by(|x, y| (&x.queue, x.state).cmp(&(&y.queue, y.state)));
    let count = |queue: &str, state, count| StateCount {
        queue: queue.into(),
        state,
        count,
    };
    assert_eq!(
        counts,
        vec![
            count("a", JobState::Available, 1),
            count("a", JobState::Scheduled, 1),
            count("a", JobState::Running, 1),
            count("a", JobState::Retryable, 1),
            count("b", JobState::Available, 1),
        ]
    );
    // The full count has the completed job too.
    let all = db.job_count_by_state().await.unwrap();
    assert!(all
        .iter()
        .any(|c| c.queue == "a" && c.state == JobState::Completed && c.count == 1));
}

/// Cancel takes jobs that have not started; running and finished ones are left alone.
pub async fn cancel_only_waiting_jobs(db: Db) {
    let mut later = job("q", "k");
    later.scheduled_at = Some(Utc::now() + chrono::Duration::hours(1));
    let scheduled = insert_one(&db, later).await;
    let running = insert_one(&db, job("q", "k")).await;
    fetch(&db, "q", 1).await;
    let available = insert_one(&db, job("q", "k")).await;

    let result = db
        .job_cancel_by_filter(JobFilter {
            ids: vec![scheduled, running, available, 987_654],
            states: backlog_storage::WAITING_STATES.to_vec(),
            ..Default::default()
        })
        .await
        .unwrap();
    let mut expected = vec![scheduled, available];
    expected.sort_unstable();
    assert_eq!(result.cancelled, expected);
    assert!(result.cancel_requested.is_empty());
    for id in [scheduled, available] {
        let row = get(&db, id).await;
        assert_eq!(row.state, JobState::Cancelled);
        assert!(row.finalized_at.is_some());
    }
    assert_eq!(get(&db, running).await.state, JobState::Running);
}

/// Retry revives a discarded job (with one more attempt) and keeps its history.
pub async fn retry_revives_finalized_jobs(db: Db) {
    let mut once = job("q", "k");
    once.max_attempts = 1;
    insert_one(&db, once).await;
    let row = fetch(&db, "q", 1).await.remove(0);
    db.job_finish_many(JobFinishManyParams {
        jobs: vec![JobFinish {
            id: row.id,
            lease_token: crate::support::token(&row),
            outcome: JobOutcome::Discard {
                failure: Failure::error("gave up"),
            },
            duration: Duration::ZERO,
            result: None,
        }],
    })
    .await
    .unwrap();
    let running = insert_one(&db, job("other", "k")).await;
    fetch(&db, "other", 1).await;

    let retried = db
        .job_retry_by_filter(backlog_storage::JobFilter {
            ids: vec![row.id, running],
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(retried, vec![row.id]);
    let revived = get(&db, row.id).await;
    assert_eq!(revived.state, JobState::Available);
    assert!(revived.finalized_at.is_none());
    assert_eq!(revived.max_attempts, 2);
    assert_eq!(revived.errors.len(), 1, "history kept");
    assert_close(
        revived.scheduled_at,
        Utc::now(),
        Duration::from_secs(5),
        "scheduled_at",
    );
    assert_eq!(fetch(&db, "q", 1).await[0].attempt, 2);
    assert_eq!(get(&db, running).await.state, JobState::Running);
}

/// A fresh harness has every migration applied.
pub async fn migrations_are_applied(db: Db) {
    let list = db.migration_list().await.unwrap();
    assert!(!list.is_empty());
    assert_eq!(list[0].version, 1);
    assert!(list.iter().all(|m| m.applied_at.is_some()), "{list:?}");
}

/// The database clock agrees with ours (same machine).
pub async fn now_is_close_to_local_clock(db: Db) {
    let now = db.now().await.unwrap();
    assert_close(now, Utc::now(), Duration::from_secs(5), "database now");
}

/// Delete by filter removes waiting and finished jobs for good, never a running job nor a job
/// of a workflow; an empty filter is refused.
pub async fn delete_by_filter_spares_running_and_workflow_jobs(db: Db) {
    use backlog_storage::{ErrorKind, JobFilter, WorkflowInsertParams};

    let waiting = insert(&db, vec![job("q", "k"), job("q", "k"), job("other", "k")]).await;
    let mut later = job("q", "k");
    later.scheduled_at = Some(Utc::now() + chrono::Duration::hours(1));
    let later = insert_one(&db, later).await;
    let running = insert_one(&db, job("busy", "k")).await;
    assert_eq!(fetch(&db, "busy", 1).await[0].id, running);
    let flow = db
        .workflow_insert(WorkflowInsertParams {
            name: "w".into(),
            jobs: vec![job("q", "step")],
            dependencies: Vec::new(),
            idempotency_key: None,
        })
        .await
        .unwrap();

    let err = db
        .job_delete_by_filter(JobFilter::default())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput, "{err}");

    // Clear queue `q`: both waiting states go, the workflow's job stays.
    let deleted = db
        .job_delete_by_filter(JobFilter {
            queue: Some("q".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(deleted, vec![waiting[0], waiting[1], later]);
    assert!(db.job_get(waiting[0]).await.unwrap().is_none());
    assert!(db.job_get(flow.job_ids[0]).await.unwrap().is_some());

    // By id: the running job is refused, the other one goes.
    let deleted = db
        .job_delete_by_filter(JobFilter {
            ids: vec![running, waiting[2]],
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(deleted, vec![waiting[2]]);
    assert_eq!(get(&db, running).await.state, JobState::Running);
}

/// Reschedule moves waiting jobs to a new time, priority and queue; a future time makes an
/// available job wait and a past one makes a scheduled job available; running jobs are left.
pub async fn reschedule_moves_waiting_jobs(db: Db) {
    use backlog_storage::{ErrorKind, JobFilter, JobRescheduleParams};

    let now_ids = insert(&db, vec![job("q", "k"), job("q", "k")]).await;
    let mut later = job("q", "k");
    later.scheduled_at = Some(Utc::now() + chrono::Duration::hours(1));
    let later = insert_one(&db, later).await;
    let running = insert_one(&db, job("busy", "k")).await;
    assert_eq!(fetch(&db, "busy", 1).await[0].id, running);

    let nothing = JobRescheduleParams {
        filter: JobFilter {
            queue: Some("q".into()),
            ..Default::default()
        },
        ..Default::default()
    };
    let err = db.job_reschedule_by_filter(nothing).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput, "{err}");

    // The first available job moves an hour ahead, to another queue, with a new priority.
    let in_an_hour = Utc::now() + chrono::Duration::hours(1);
    let moved = db
        .job_reschedule_by_filter(JobRescheduleParams {
            filter: JobFilter {
                ids: vec![now_ids[0], running],
                ..Default::default()
            },
            run_at: Some(in_an_hour),
            priority: Some(5),
            queue: Some("slow".into()),
        })
        .await
        .unwrap();
    assert_eq!(moved, vec![now_ids[0]], "the running job is left alone");
    let row = get(&db, now_ids[0]).await;
    assert_eq!(
        (row.state, row.priority, row.queue.as_str()),
        (JobState::Scheduled, 5, "slow")
    );
    assert_close(
        row.scheduled_at,
        in_an_hour,
        Duration::from_millis(1),
        "run_at",
    );

    // The scheduled job is brought forward: available at once, and claimable.
    let moved = db
        .job_reschedule_by_filter(JobRescheduleParams {
            filter: JobFilter {
                ids: vec![later],
                ..Default::default()
            },
            run_at: Some(Utc::now() - chrono::Duration::seconds(1)),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(moved, vec![later]);
    assert_eq!(get(&db, later).await.state, JobState::Available);
    let claimed: Vec<i64> = fetch(&db, "q", 10).await.iter().map(|r| r.id).collect();
    assert!(claimed.contains(&later), "{claimed:?}");
    assert!(!claimed.contains(&now_ids[0]));
    assert_eq!(get(&db, running).await.state, JobState::Running);
}
