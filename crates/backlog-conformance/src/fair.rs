//! Fair queues: partition keys, claims rotating over them, the per-key limit.

use backlog_storage::{JobInsert, QueueUpdateParams};
use backlog_types::JobState;

use crate::support::{fetch, finalize, insert, job, Db};

fn keyed(queue: &str, key: &str) -> JobInsert {
    let mut j = job(queue, "k");
    j.partition_key = Some(key.to_owned());
    j
}

fn keys_of(rows: &[backlog_types::JobRow]) -> Vec<String> {
    rows.iter()
        .map(|r| r.partition_key.clone().unwrap_or_else(|| "-".into()))
        .collect()
}

/// A queue becomes fair with its first keyed job; one key's big backlog, enqueued first, does
/// not starve the keys behind it: a claim takes one job per key, turn by turn.
pub async fn claims_rotate_over_keys(db: Db) {
    insert(&db, (0..100).map(|_| keyed("q", "big")).collect()).await;
    insert(
        &db,
        ["a", "b", "c", "d", "e"]
            .iter()
            .map(|k| keyed("q", k))
            .collect(),
    )
    .await;
    let queue = db.queue_get("q").await.unwrap().unwrap();
    assert!(queue.fair, "a keyed insert makes the queue fair");
    let claimed = fetch(&db, "q", 6).await;
    let mut keys = keys_of(&claimed);
    keys.sort();
    assert_eq!(
        keys,
        vec!["a", "b", "big", "c", "d", "e"],
        "one job per key"
    );
    // With only the big key left, a claim fills up from it.
    let claimed = fetch(&db, "q", 10).await;
    assert_eq!(keys_of(&claimed), vec!["big"; 10]);
}

/// Claims smaller than the number of keys rotate: each starts after the last key served.
pub async fn the_cursor_moves_over_many_keys(db: Db) {
    let keys: Vec<String> = (0..10).map(|i| format!("tenant-{i}")).collect();
    for _ in 0..2 {
        insert(&db, keys.iter().map(|k| keyed("q", k)).collect()).await;
    }
    let mut served = Vec::new();
    for _ in 0..4 {
        served.extend(keys_of(&fetch(&db, "q", 3).await));
    }
    // 12 claims over 10 keys: every key once before any key twice.
    let first_ten: std::collections::BTreeSet<_> = served[..10].iter().cloned().collect();
    assert_eq!(first_ten.len(), 10, "{served:?}");
    assert_eq!(&served[10..], &["tenant-0", "tenant-1"], "{served:?}");
}

/// With a per-key limit, no key has more jobs running than it, across claims, until some
/// finish; unkeyed jobs of a fair queue are one more group.
pub async fn per_key_limit_holds(db: Db) {
    db.queue_update(QueueUpdateParams {
        queue: "q".into(),
        max_running: None,
        rate_limit: None,
        partition_max_running: Some(Some(2)),
    })
    .await
    .unwrap();
    let info = db.queue_get("q").await.unwrap().unwrap();
    assert_eq!((info.fair, info.partition_max_running), (true, Some(2)));
    insert(&db, (0..5).map(|_| keyed("q", "x")).collect()).await;
    insert(&db, (0..5).map(|_| keyed("q", "y")).collect()).await;
    insert(&db, vec![job("q", "k")]).await;
    let first = fetch(&db, "q", 10).await;
    let mut keys = keys_of(&first);
    keys.sort();
    assert_eq!(
        keys,
        vec!["-", "x", "x", "y", "y"],
        "two per key, and the unkeyed job"
    );
    assert!(
        keys_of(&fetch(&db, "q", 10).await).is_empty(),
        "both keys are at their limit"
    );
    // One x job finishes: one more x may start.
    let done: Vec<_> = first
        .iter()
        .filter(|r| r.partition_key.as_deref() == Some("x"))
        .take(1)
        .cloned()
        .collect();
    finalize(&db, &done, vec![backlog_storage::JobOutcome::Completed]).await;
    assert_eq!(keys_of(&fetch(&db, "q", 10).await), vec!["x"]);
    let running = db
        .job_list(backlog_storage::JobListParams {
            states: vec![JobState::Running],
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(running.len(), 5);
}

/// A claim comes back turn by turn over the keys (each key's first job, then each key's
/// second), then its top-up: the keys that filled their share, in key order, then the jobs
/// without a key. The next claim starts after the last key served.
pub async fn a_short_claim_is_topped_up_in_turn_order(db: Db) {
    insert(&db, (0..3).map(|_| keyed("q", "a")).collect()).await;
    insert(&db, vec![keyed("q", "b")]).await;
    insert(&db, (0..5).map(|_| keyed("q", "c")).collect()).await;
    insert(&db, vec![job("q", "k")]).await;
    // Three keys, a share of 2 each: a a, b, c c; one short, topped up from a (the first key
    // that filled its share) before the unkeyed job.
    let claimed = fetch(&db, "q", 6).await;
    assert_eq!(keys_of(&claimed), vec!["a", "b", "c", "a", "c", "a"]);
    // a and b are empty, c has 3 left: c fills its share and the top-up, the unkeyed job last.
    let claimed = fetch(&db, "q", 5).await;
    assert_eq!(keys_of(&claimed), vec!["c", "c", "c", "-"]);
}

/// Six concurrent fetch loops never hold more than the per-key limit of any key's jobs, and
/// never claim a job twice.
pub async fn per_key_limit_holds_for_concurrent_fetchers(db: Db) {
    use std::collections::{BTreeSet, HashMap};
    use std::sync::{Arc, Mutex};
    const LIMIT: i64 = 2;
    const KEYS: [&str; 3] = ["x", "y", "z"];
    const PER_KEY: usize = 20;
    db.queue_update(QueueUpdateParams {
        queue: "q".into(),
        max_running: None,
        rate_limit: None,
        partition_max_running: Some(Some(LIMIT as u32)),
    })
    .await
    .unwrap();
    for key in KEYS {
        insert(&db, (0..PER_KEY).map(|_| keyed("q", key)).collect()).await;
    }
    let total = KEYS.len() * PER_KEY;
    let running: Arc<Mutex<HashMap<String, i64>>> = Arc::default();
    let claimed: Arc<Mutex<Vec<i64>>> = Arc::default();
    let mut tasks = Vec::new();
    for _ in 0..6 {
        let (db, running, claimed) = (db.clone(), running.clone(), claimed.clone());
        tasks.push(tokio::spawn(async move {
            while claimed.lock().unwrap().len() < total {
                let rows = fetch(&db, "q", 3).await;
                {
                    let mut running = running.lock().unwrap();
                    for row in &rows {
                        let key = row.partition_key.clone().unwrap_or_default();
                        let now = running.entry(key.clone()).or_insert(0);
                        *now += 1;
                        assert!(*now <= LIMIT, "{now} jobs of {key} running, limit {LIMIT}");
                    }
                    claimed.lock().unwrap().extend(rows.iter().map(|r| r.id));
                }
                for _ in 0..3 {
                    tokio::task::yield_now().await;
                }
                for row in rows {
                    // Counted out before the database hears of it, so the counter never
                    // exceeds the real number of running jobs.
                    let key = row.partition_key.clone().unwrap_or_default();
                    *running.lock().unwrap().get_mut(&key).unwrap() -= 1;
                    finalize(
                        &db,
                        std::slice::from_ref(&row),
                        vec![backlog_storage::JobOutcome::Completed],
                    )
                    .await;
                }
            }
        }));
    }
    for task in tasks {
        task.await.expect("fetch loop");
    }
    let claimed = claimed.lock().unwrap().clone();
    let distinct: BTreeSet<i64> = claimed.iter().copied().collect();
    assert_eq!(claimed.len(), total, "every job claimed once");
    assert_eq!(distinct.len(), total, "no job claimed twice");
    let info = db.queue_get("q").await.unwrap().unwrap();
    assert_eq!(info.count(JobState::Completed), total as u64);
}

/// A per-key limit set while a key's jobs are running counts them: no more of that key starts
/// until enough of them finish. A limit set later again, after it was lifted, counts the jobs
/// claimed in between as well.
pub async fn a_limit_set_while_jobs_run_counts_them(db: Db) {
    let limit = |n: Option<u32>| QueueUpdateParams {
        queue: "q".into(),
        max_running: None,
        rate_limit: None,
        partition_max_running: Some(n),
    };
    insert(&db, (0..10).map(|_| keyed("q", "x")).collect()).await;
    let unlimited = fetch(&db, "q", 3).await;
    assert_eq!(keys_of(&unlimited), vec!["x"; 3]);
    db.queue_update(limit(Some(2))).await.unwrap();
    assert!(
        fetch(&db, "q", 10).await.is_empty(),
        "three x jobs already run, limit 2"
    );
    finalize(
        &db,
        &unlimited[..2],
        vec![backlog_storage::JobOutcome::Completed; 2],
    )
    .await;
    let under_limit = fetch(&db, "q", 10).await;
    assert_eq!(
        keys_of(&under_limit),
        vec!["x"],
        "one left running, one more may start"
    );
    // Lifted: claims no longer count; set again: everything running counts.
    db.queue_update(limit(None)).await.unwrap();
    let lifted = fetch(&db, "q", 2).await;
    assert_eq!(keys_of(&lifted), vec!["x"; 2]);
    db.queue_update(limit(Some(4))).await.unwrap();
    assert!(
        fetch(&db, "q", 10).await.is_empty(),
        "four x jobs run (one before the first limit, one under it, two after it), limit 4"
    );
}

/// A fair queue that this process has claimed from, then paused, limited or resumed, obeys
/// its new settings from the next claim on (PostgreSQL remembers a fair queue and claims from
/// it in one round trip that must notice the change).
pub async fn settings_changed_after_claims_hold(db: Db) {
    use backlog_storage::QueuePauseParams;
    let pause = || QueuePauseParams {
        queue: "q".into(),
        now: None,
    };
    insert(&db, (0..20).map(|_| keyed("q", "x")).collect()).await;
    assert_eq!(fetch(&db, "q", 2).await.len(), 2);
    assert_eq!(fetch(&db, "q", 2).await.len(), 2, "remembered as fair");
    db.queue_pause(pause()).await.unwrap();
    assert!(fetch(&db, "q", 2).await.is_empty(), "paused");
    assert!(fetch(&db, "q", 2).await.is_empty(), "still paused");
    db.queue_resume(pause()).await.unwrap();
    assert_eq!(fetch(&db, "q", 2).await.len(), 2, "resumed");
    db.queue_update(QueueUpdateParams {
        queue: "q".into(),
        max_running: Some(Some(7)),
        rate_limit: None,
        partition_max_running: None,
    })
    .await
    .unwrap();
    assert_eq!(
        fetch(&db, "q", 5).await.len(),
        1,
        "six running, at most seven"
    );
    assert!(fetch(&db, "q", 5).await.is_empty(), "at the queue's limit");
    db.queue_update(QueueUpdateParams {
        queue: "q".into(),
        max_running: Some(None),
        rate_limit: None,
        partition_max_running: None,
    })
    .await
    .unwrap();
    assert_eq!(fetch(&db, "q", 5).await.len(), 5, "unlimited again");
    assert_eq!(fetch(&db, "q", 5).await.len(), 5, "and remembered as fair");
    let info = db.queue_get("q").await.unwrap().unwrap();
    assert_eq!(info.count(JobState::Running), 17);
}
