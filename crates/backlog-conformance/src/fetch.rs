//! `job_fetch_available`.

use std::collections::HashSet;
use std::time::Duration;

use backlog_storage::{JobFinish, JobFinishManyParams, JobOutcome, JobScheduleParams};
use backlog_types::JobState;
use chrono::Utc;

use crate::support::{assert_close, fetch, fetch_params, get, insert, insert_one, job, Db};

/// Higher priority first; within one priority, the earliest scheduled first.
pub async fn claims_highest_priority_then_oldest(db: Db) {
    let now = Utc::now();
    let mut specs = Vec::new();
    for (priority, minutes_ago) in [(0, 10), (5, 1), (0, 20), (5, 30), (-5, 60)] {
        let mut j = job("q", "k");
        j.priority = priority;
        j.scheduled_at = Some(now - chrono::Duration::minutes(minutes_ago));
        specs.push(j);
    }
    let ids = insert(&db, specs).await;
    let fetched: Vec<_> = fetch(&db, "q", 10).await.iter().map(|r| r.id).collect();
    assert_eq!(fetched, vec![ids[3], ids[1], ids[2], ids[0], ids[4]]);
}

/// A fetched job is running, has spent an attempt, names its worker and holds a lease.
pub async fn marks_running_with_lease_and_worker(db: Db) {
    let id = insert_one(&db, job("q", "k")).await;
    let mut params = fetch_params("q", 1);
    params.worker_id = "host-a:123".into();
    params.lease = Duration::from_secs(30);
    let rows = db.job_fetch_available(params).await.unwrap();
    assert_eq!(rows.len(), 1);
    let row = &rows[0];
    assert_eq!(row.id, id);
    assert_eq!(row.state, JobState::Running);
    assert_eq!(row.attempt, 1);
    assert_eq!(row.attempted_by, vec!["host-a:123".to_string()]);
    let attempted_at = row.attempted_at.expect("attempted_at");
    assert_close(
        attempted_at,
        Utc::now(),
        Duration::from_secs(5),
        "attempted_at",
    );
    let lease = row.lease_expires_at.expect("lease");
    assert_close(
        lease,
        attempted_at + chrono::Duration::seconds(30),
        Duration::from_millis(50),
        "lease",
    );
    assert_eq!(get(&db, id).await, *row);
}

/// A claim answers with the rows as stored, for every job it claims: each with a token of its
/// own, and a job claimed again with both workers named and its place kept.
pub async fn claimed_rows_are_the_stored_rows(db: Db) {
    let ids = insert(&db, (0..4).map(|_| job("q", "k")).collect()).await;
    let mut first = fetch_params("q", 2);
    first.worker_id = "w1".into();
    let rows = db.job_fetch_available(first).await.unwrap();
    assert_eq!(rows.iter().map(|r| r.id).collect::<Vec<_>>(), ids[..2]);
    for row in &rows {
        assert_eq!(get(&db, row.id).await, *row);
    }
    // Snoozed without delay: due at once, in its old place, its attempt given back.
    let snoozed: Vec<JobFinish> = rows
        .iter()
        .map(|row| JobFinish {
            id: row.id,
            lease_token: row.lease_token.expect("a claimed row has a token"),
            outcome: JobOutcome::Snooze {
                delay: Duration::ZERO,
            },
            duration: Duration::from_millis(1),
            result: None,
        })
        .collect();
    db.job_finish_many(JobFinishManyParams { jobs: snoozed })
        .await
        .unwrap();
    db.job_schedule(JobScheduleParams { now: None, max: 10 })
        .await
        .unwrap();
    let mut again = fetch_params("q", 10);
    again.worker_id = "w2".into();
    let rows = db.job_fetch_available(again).await.unwrap();
    assert_eq!(rows.iter().map(|r| r.id).collect::<Vec<_>>(), ids);
    for row in &rows {
        assert_eq!(get(&db, row.id).await, *row);
        assert_eq!(row.attempt, 1);
    }
    assert_eq!(rows[0].attempted_by, vec!["w1".to_owned(), "w2".to_owned()]);
    assert_eq!(rows[3].attempted_by, vec!["w2".to_owned()]);
    let tokens: HashSet<_> = rows.iter().filter_map(|r| r.lease_token).collect();
    assert_eq!(
        tokens.len(),
        rows.len(),
        "each claimed job has a token of its own"
    );
}

/// Only the named queue, at most `max` jobs.
pub async fn respects_queue_and_max(db: Db) {
    insert(&db, (0..5).map(|_| job("a", "k")).collect()).await;
    insert(&db, (0..5).map(|_| job("b", "k")).collect()).await;
    let first = fetch(&db, "a", 3).await;
    assert_eq!(first.len(), 3);
    assert!(first.iter().all(|r| r.queue == "a"));
    assert_eq!(fetch(&db, "a", 10).await.len(), 2);
    assert!(fetch(&db, "a", 10).await.is_empty());
    assert!(fetch(&db, "missing", 10).await.is_empty());
    assert_eq!(fetch(&db, "b", 10).await.len(), 5);
}

/// With `kinds`, only jobs of those kinds are claimed, in the usual order; the rest stay
/// available, also on a queue whose settings limit it.
pub async fn claims_only_the_kinds_asked_for(db: Db) {
    let ids = insert(
        &db,
        ["a", "b", "c", "a", "b"]
            .iter()
            .map(|k| job("q", k))
            .collect(),
    )
    .await;
    let mut params = fetch_params("q", 10);
    params.kinds = vec!["a".into(), "c".into()];
    let claimed: Vec<_> = db
        .job_fetch_available(params.clone())
        .await
        .unwrap()
        .iter()
        .map(|r| r.id)
        .collect();
    assert_eq!(claimed, vec![ids[0], ids[2], ids[3]]);
    assert!(db.job_fetch_available(params).await.unwrap().is_empty());
    for id in [ids[1], ids[4]] {
        assert_eq!(get(&db, id).await.state, JobState::Available);
    }
    db.queue_update(backlog_storage::QueueUpdateParams {
        queue: "q".into(),
        max_running: Some(Some(10)),
        rate_limit: None,
        partition_max_running: None,
    })
    .await
    .unwrap();
    insert_one(&db, job("q", "a")).await;
    let mut params = fetch_params("q", 10);
    params.kinds = vec!["b".into()];
    let limited = db.job_fetch_available(params).await.unwrap();
    assert_eq!(
        limited.iter().map(|r| r.id).collect::<Vec<_>>(),
        vec![ids[1], ids[4]]
    );
}

/// Scheduled, running and finalized jobs are never fetched.
pub async fn skips_jobs_not_available(db: Db) {
    let mut later = job("q", "k");
    later.scheduled_at = Some(Utc::now() + chrono::Duration::hours(1));
    insert_one(&db, later).await;
    let id = insert_one(&db, job("q", "k")).await;
    assert_eq!(fetch(&db, "q", 10).await.len(), 1);
    assert!(fetch(&db, "q", 10).await.is_empty());
    assert_eq!(get(&db, id).await.state, JobState::Running);
}

/// Many fetchers racing over one queue: every job handed out exactly once.
pub async fn concurrent_fetchers_never_share_a_job(db: Db) {
    const JOBS: usize = 600;
    insert(&db, (0..JOBS).map(|_| job("race", "k")).collect()).await;
    let mut tasks = Vec::new();
    for worker in 0..8 {
        let db = db.clone();
        tasks.push(tokio::spawn(async move {
            let mut got = Vec::new();
            loop {
                let mut params = fetch_params("race", 7);
                params.worker_id = format!("w{worker}");
                let rows = db.job_fetch_available(params).await.expect("fetch");
                if rows.is_empty() {
                    break got;
                }
                got.extend(rows.into_iter().map(|r| r.id));
            }
        }));
    }
    let mut seen = HashSet::new();
    let mut total = 0;
    for task in tasks {
        for id in task.await.unwrap() {
            total += 1;
            assert!(seen.insert(id), "job {id} was handed out twice");
        }
    }
    assert_eq!(total, JOBS);
}

/// `job_insert_and_fetch` stores every job and claims up to `max` of the queue's available
/// jobs for the worker, like a fetch made right after the insert; a resend of keyed jobs
/// stores nothing new and still claims what is available.
pub async fn insert_and_fetch_claims_for_the_worker(db: Db) {
    let keyed = |i: usize| {
        let mut j = job("q", "k");
        j.priority = i as i16;
        j.idempotency = Some(backlog_storage::IdempotencyInsert {
            key: format!("request/{i}"),
            window: Duration::from_secs(3600),
            now: None,
        });
        j
    };
    let mut params = fetch_params("q", 2);
    params.worker_id = "remote-1".into();
    let (inserted, claimed) = db
        .job_insert_and_fetch(
            backlog_storage::JobInsertManyParams {
                jobs: (0..3).map(keyed).collect(),
            },
            params.clone(),
        )
        .await
        .expect("insert and fetch");
    assert_eq!(inserted.len(), 3);
    assert!(inserted.iter().all(|r| !r.duplicate));
    // Highest priority first, as any claim.
    let claimed_ids: Vec<_> = claimed.iter().map(|r| r.id).collect();
    assert_eq!(claimed_ids, vec![inserted[2].id, inserted[1].id]);
    for row in &claimed {
        assert_eq!(row.state, JobState::Running);
        assert_eq!(row.attempt, 1);
        assert_eq!(row.attempted_by, vec!["remote-1".to_string()]);
        assert!(row.lease_expires_at.is_some());
        assert_eq!(get(&db, row.id).await, *row);
    }
    assert_eq!(get(&db, inserted[0].id).await.state, JobState::Available);

    let (again, claimed) = db
        .job_insert_and_fetch(
            backlog_storage::JobInsertManyParams {
                jobs: (0..3).map(keyed).collect(),
            },
            params,
        )
        .await
        .expect("resend");
    assert!(again.iter().all(|r| r.duplicate));
    assert_eq!(
        again.iter().map(|r| r.id).collect::<Vec<_>>(),
        inserted.iter().map(|r| r.id).collect::<Vec<_>>()
    );
    let claimed_ids: Vec<_> = claimed.iter().map(|r| r.id).collect();
    assert_eq!(claimed_ids, vec![inserted[0].id]);
}

/// The claim of `job_insert_and_fetch` honours the queue's settings: nothing is claimed from a
/// paused queue, and the jobs are stored all the same.
pub async fn insert_and_fetch_honours_a_paused_queue(db: Db) {
    db.queue_pause(backlog_storage::QueuePauseParams {
        queue: "q".into(),
        now: None,
    })
    .await
    .expect("pause");
    let (inserted, claimed) = db
        .job_insert_and_fetch(
            backlog_storage::JobInsertManyParams {
                jobs: vec![job("q", "k"), job("q", "k")],
            },
            fetch_params("q", 10),
        )
        .await
        .expect("insert and fetch");
    assert_eq!(inserted.len(), 2);
    assert!(claimed.is_empty());
    for r in &inserted {
        assert_eq!(get(&db, r.id).await.state, JobState::Available);
    }
}
