//! Flow control: pausing queues, cluster-wide `max_running`, rate limits, and job results and
//! progress.

use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use backlog_storage::{
    Event, JobFetchAvailableParams, JobFinish, JobFinishManyParams, JobOutcome,
    JobProgressSetParams, QueuePauseParams, QueueUpdateParams, RateLimit, RateLimitTakeParams,
};
use backlog_types::{JobState, LeaseToken};
use chrono::{DateTime, TimeZone, Utc};
use serde_json::json;

use crate::support::{fetch, fetch_params, get, insert, insert_one, job, token, Db, STRANGER};

fn pause(queue: &str) -> QueuePauseParams {
    QueuePauseParams {
        queue: queue.to_owned(),
        now: None,
    }
}

fn completed(
    id: i64,
    lease_token: LeaseToken,
    result: Option<serde_json::Value>,
) -> JobFinishManyParams {
    JobFinishManyParams {
        jobs: vec![JobFinish {
            id,
            lease_token,
            outcome: JobOutcome::Completed,
            duration: Duration::ZERO,
            result,
        }],
    }
}

fn at(seconds_after_t0: f64) -> DateTime<Utc> {
    let t0 = Utc
        .with_ymd_and_hms(2030, 1, 1, 0, 0, 0)
        .single()
        .expect("valid");
    t0 + chrono::Duration::microseconds((seconds_after_t0 * 1e6) as i64)
}

fn fetch_at(queue: &str, max: u32, now: DateTime<Utc>) -> JobFetchAvailableParams {
    JobFetchAvailableParams {
        now: Some(now),
        kinds: Vec::new(),
        ..fetch_params(queue, max)
    }
}

/// A paused queue yields nothing to fetches (other queues are unaffected); resuming restores
/// it and wakes subscribers.
pub async fn pause_stops_fetch_and_resume_restores(db: Db) {
    insert(&db, vec![job("q", "k"), job("q", "k"), job("other", "k")]).await;
    db.queue_pause(pause("q")).await.unwrap();
    db.queue_pause(pause("q")).await.unwrap();
    assert!(fetch(&db, "q", 10).await.is_empty(), "paused queue fetched");
    assert_eq!(fetch(&db, "other", 10).await.len(), 1);
    let info = db.queue_get("q").await.unwrap().expect("queue exists");
    assert!(info.is_paused());
    assert_eq!(info.count(JobState::Available), 2);

    let mut events = db.event_subscribe().await.unwrap();
    assert!(db.queue_resume(pause("q")).await.unwrap());
    assert!(!db.queue_resume(pause("q")).await.unwrap(), "not paused");
    let woken = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match events.recv().await {
                Ok(Event::QueueResumed { queue }) => return queue,
                Ok(_) => continue,
                Err(e) => panic!("subscription failed: {e}"),
            }
        }
    })
    .await
    .expect("no resume wake-up within 10 s");
    assert_eq!(woken, "q");
    assert_eq!(fetch(&db, "q", 10).await.len(), 2);
    assert!(!db.queue_get("q").await.unwrap().unwrap().is_paused());
}

/// Eight concurrent fetch loops never hold more than `max_running` jobs of the queue.
pub async fn max_running_never_exceeded_by_concurrent_fetchers(db: Db) {
    const LIMIT: i64 = 3;
    const JOBS: usize = 120;
    db.queue_update(QueueUpdateParams {
        queue: "q".into(),
        max_running: Some(Some(LIMIT as u32)),
        rate_limit: None,
        partition_max_running: None,
    })
    .await
    .unwrap();
    insert(&db, (0..JOBS).map(|_| job("q", "k")).collect()).await;
    let running = Arc::new(AtomicI64::new(0));
    let done = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let (db, running, done) = (db.clone(), running.clone(), done.clone());
        tasks.push(tokio::spawn(async move {
            while done.load(Ordering::SeqCst) < JOBS {
                let rows = fetch(&db, "q", 2).await;
                let now =
                    running.fetch_add(rows.len() as i64, Ordering::SeqCst) + rows.len() as i64;
                assert!(now <= LIMIT, "{now} jobs running, limit {LIMIT}");
                for _ in 0..3 {
                    tokio::task::yield_now().await;
                }
                for row in rows {
                    // Counted out before the database hears of it, so the counter never
                    // exceeds the real number of running jobs.
                    running.fetch_sub(1, Ordering::SeqCst);
                    db.job_finish_many(completed(row.id, token(&row), None))
                        .await
                        .unwrap();
                    done.fetch_add(1, Ordering::SeqCst);
                }
            }
        }));
    }
    for task in tasks {
        task.await.expect("fetch loop");
    }
    let info = db.queue_get("q").await.unwrap().unwrap();
    assert_eq!(info.count(JobState::Completed), JOBS as u64);
    assert_eq!(info.max_running, Some(LIMIT as u32));
}

/// A queue's rate limit spends one token per claimed job and gives back those not used.
pub async fn queue_rate_limit_applies_at_fetch(db: Db) {
    let limit = RateLimit {
        max: 2,
        period: Duration::from_secs(10),
    };
    for queue in ["q", "sparse"] {
        db.queue_update(QueueUpdateParams {
            queue: queue.into(),
            max_running: None,
            rate_limit: Some(Some(limit)),
            partition_max_running: None,
        })
        .await
        .unwrap();
    }
    insert(&db, (0..5).map(|_| job("q", "k")).collect()).await;
    let take = |params| {
        let db = db.clone();
        async move { db.job_fetch_available(params).await.unwrap().len() }
    };
    assert_eq!(take(fetch_at("q", 10, at(0.0))).await, 2, "full bucket");
    assert_eq!(take(fetch_at("q", 10, at(0.0))).await, 0, "empty bucket");
    assert_eq!(
        take(fetch_at("q", 10, at(5.0))).await,
        1,
        "one token refilled"
    );
    assert_eq!(take(fetch_at("q", 10, at(6.0))).await, 0);
    assert_eq!(
        take(fetch_at("q", 10, at(100.0))).await,
        2,
        "refill capped at max"
    );

    // One job for two tokens: the unused token is given back.
    insert_one(&db, job("sparse", "k")).await;
    assert_eq!(take(fetch_at("sparse", 10, at(0.0))).await, 1);
    let peek = db
        .rate_limit_take(RateLimitTakeParams {
            key: "queue:sparse".into(),
            limit,
            want: 0,
            now: Some(at(0.0)),
        })
        .await
        .unwrap();
    assert_eq!(peek.granted, 0);
    assert!((peek.tokens_left - 1.0).abs() < 1e-6, "{peek:?}");
}

/// Token accounting of a bucket, with explicit times.
pub async fn rate_limit_take_accounts_tokens(db: Db) {
    let limit = RateLimit {
        max: 3,
        period: Duration::from_secs(3),
    };
    let take = |want: u32, now: f64| {
        let db = db.clone();
        async move {
            db.rate_limit_take(RateLimitTakeParams {
                key: "kind:k".into(),
                limit,
                want,
                now: Some(at(now)),
            })
            .await
            .unwrap()
        }
    };
    let first = take(2, 0.0).await;
    assert_eq!((first.granted, first.retry_after), (2, Duration::ZERO));
    assert!((first.tokens_left - 1.0).abs() < 1e-6);
    let short = take(5, 0.0).await;
    assert_eq!(short.granted, 1);
    assert!(
        (short.retry_after.as_secs_f64() - 1.0).abs() < 1e-3,
        "{short:?}"
    );
    let partial = take(5, 1.5).await;
    assert_eq!(partial.granted, 1, "1.5 tokens refilled: one whole");
    assert!((partial.tokens_left - 0.5).abs() < 1e-6, "{partial:?}");
    assert!((partial.retry_after.as_secs_f64() - 0.5).abs() < 1e-3);
    assert_eq!(
        take(1, 0.0).await.granted,
        0,
        "time going back refills nothing"
    );
    assert_eq!(take(10, 100.0).await.granted, 3, "capped at max");
}

/// Progress is fenced on the running execution (its lease token); the result is written with
/// the finish.
pub async fn result_and_progress_are_stored_and_fenced(db: Db) {
    insert_one(&db, job("q", "k")).await;
    let row = fetch(&db, "q", 1).await.remove(0);
    assert_eq!((row.result.clone(), row.progress.clone()), (None, None));
    let progress = |lease_token: LeaseToken, value: serde_json::Value| JobProgressSetParams {
        id: row.id,
        lease_token,
        progress: value,
    };
    let forty = json!({"percent": 40, "message": "resizing"});
    assert!(db
        .job_progress_set(progress(token(&row), forty.clone()))
        .await
        .unwrap());
    assert!(!db
        .job_progress_set(progress(STRANGER, json!(1)))
        .await
        .unwrap());
    assert_eq!(get(&db, row.id).await.progress, Some(forty.clone()));

    let result = json!({"thumbnails": ["a.png", "b.png"], "bytes": 1234});
    let applied = db
        .job_finish_many(completed(row.id, token(&row), Some(result.clone())))
        .await
        .unwrap();
    assert_eq!(applied, vec![row.id]);
    assert!(
        !db.job_progress_set(progress(token(&row), json!(99)))
            .await
            .unwrap(),
        "progress after the finish"
    );
    let done = get(&db, row.id).await;
    assert_eq!(done.result, Some(result));
    assert_eq!(done.progress, Some(forty));
}

/// Queues are listed with their settings and counts; limits can be removed.
pub async fn queue_list_reports_settings_and_counts(db: Db) {
    assert!(db.queue_get("nothing").await.unwrap().is_none());
    insert(&db, vec![job("b", "k"), job("b", "k"), job("a", "k")]).await;
    fetch(&db, "b", 1).await;
    let limit = RateLimit {
        max: 10,
        period: Duration::from_secs(60),
    };
    let updated = db
        .queue_update(QueueUpdateParams {
            queue: "c".into(),
            max_running: Some(Some(4)),
            rate_limit: Some(Some(limit)),
            partition_max_running: None,
        })
        .await
        .unwrap();
    assert_eq!(updated.max_running, Some(4));
    assert_eq!(updated.rate_limit, Some(limit));
    assert!(updated.counts.is_empty());

    let queues = db.queue_list().await.unwrap();
    let names: Vec<&str> = queues.iter().map(|q| q.name.as_str()).collect();
    assert_eq!(names, ["a", "b", "c"]);
    assert_eq!(queues[1].count(JobState::Available), 1);
    assert_eq!(queues[1].count(JobState::Running), 1);
    assert!(queues[0].updated_at.is_none(), "never configured");

    let cleared = db
        .queue_update(QueueUpdateParams {
            queue: "c".into(),
            max_running: Some(None),
            rate_limit: None,
            partition_max_running: None,
        })
        .await
        .unwrap();
    assert_eq!(cleared.max_running, None);
    assert_eq!(cleared.rate_limit, Some(limit), "left unchanged");
}
