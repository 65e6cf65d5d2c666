//! Idempotency keys: a repeated key inserts nothing within its window (even after the job is
//! deleted), folds within a batch, expires, is pruned, and yields one job under concurrency.

use std::sync::Arc;
use std::time::Duration;

use backlog_storage::{
    ErrorKind, IdempotencyInsert, IdempotencyPruneParams, JobIdsParams, JobInsert,
    JobInsertManyParams, JobInsertResult, OnConflict, UniqueInsert,
};
use chrono::{DateTime, Utc};

use crate::support::{job, Db};

fn keyed(key: &str, window: Duration, now: Option<DateTime<Utc>>) -> JobInsert {
    let mut job = job("idem", "k");
    job.idempotency = Some(IdempotencyInsert {
        key: key.to_owned(),
        window,
        now,
    });
    job
}

async fn insert(db: &Db, jobs: Vec<JobInsert>) -> Vec<JobInsertResult> {
    db.job_insert_many(JobInsertManyParams { jobs })
        .await
        .expect("insert")
}

async fn count(db: &Db) -> usize {
    db.job_list(Default::default()).await.expect("list").len()
}

const HOUR: Duration = Duration::from_secs(3600);

/// A repeated key returns the first job as a duplicate, also once that job was deleted; other
/// keys and jobs without a key are unaffected.
pub async fn repeated_key_returns_the_first_job(db: Db) {
    let first = insert(&db, vec![keyed("order-1", HOUR, None)]).await[0];
    assert!(!first.duplicate);
    let again = insert(&db, vec![keyed("order-1", HOUR, None)]).await[0];
    assert_eq!((again.id, again.duplicate), (first.id, true));
    let other = insert(
        &db,
        vec![keyed("order-2", HOUR, None), job("idem", "plain")],
    )
    .await;
    assert!(other.iter().all(|r| !r.duplicate && r.id != first.id));
    assert_eq!(count(&db).await, 3);
    // Deleted (cancelled, then purged): the key still names it.
    let ids = JobIdsParams {
        ids: vec![first.id],
    };
    db.job_cancel_by_filter(backlog_storage::JobFilter {
        ids: ids.ids.clone(),
        ..Default::default()
    })
    .await
    .expect("cancel");
    assert_eq!(db.job_purge_many(ids).await.expect("purge"), [first.id]);
    let after = insert(&db, vec![keyed("order-1", HOUR, None)]).await[0];
    assert_eq!((after.id, after.duplicate), (first.id, true));
    assert_eq!(count(&db).await, 2);
}

/// Jobs of one batch sharing a key become one job, as does a key already stored; a job both
/// unique and keyed, or a bad key, is refused and nothing is inserted.
pub async fn batch_folds_keys_and_rejects_bad_ones(db: Db) {
    let stored = insert(&db, vec![keyed("b", HOUR, None)]).await[0];
    let results = insert(
        &db,
        vec![
            keyed("a", HOUR, None),
            job("idem", "plain"),
            keyed("a", HOUR, None),
            keyed("b", HOUR, None),
            keyed("c", HOUR, None),
        ],
    )
    .await;
    let pairs: Vec<_> = results.iter().map(|r| r.duplicate).collect();
    assert_eq!(pairs, [false, false, true, true, false]);
    assert_eq!(results[2].id, results[0].id);
    assert_eq!(results[3].id, stored.id);
    assert_eq!(count(&db).await, 4);

    let mut both = keyed("d", HOUR, None);
    both.unique = Some(UniqueInsert {
        key: b"u".to_vec(),
        states: 0b1111,
        on_conflict: OnConflict::Skip,
    });
    for bad in [both, keyed("", HOUR, None), keyed("has space", HOUR, None)] {
        let err = db
            .job_insert_many(JobInsertManyParams {
                jobs: vec![job("idem", "plain"), bad],
            })
            .await
            .expect_err("refused");
        assert_eq!(err.kind(), ErrorKind::InvalidInput, "{err}");
    }
    assert_eq!(count(&db).await, 4, "nothing inserted by a refused batch");
}

/// A key is remembered for its window only: within it a repeat is a duplicate, after it the
/// key inserts a new job (and is remembered again).
pub async fn key_expires_after_its_window(db: Db) {
    let now = db.now().await.expect("now");
    let two_hours_ago = now - chrono::Duration::hours(2);
    let first = insert(&db, vec![keyed("e", HOUR, Some(two_hours_ago))]).await[0];
    let within = two_hours_ago + chrono::Duration::minutes(30);
    let repeat = insert(&db, vec![keyed("e", HOUR, Some(within))]).await[0];
    assert_eq!((repeat.id, repeat.duplicate), (first.id, true));
    // Now (two hours later) the one-hour window has ended.
    let reused = insert(&db, vec![keyed("e", HOUR, None)]).await[0];
    assert!(!reused.duplicate);
    assert_ne!(reused.id, first.id);
    let again = insert(&db, vec![keyed("e", HOUR, None)]).await[0];
    assert_eq!((again.id, again.duplicate), (reused.id, true));
}

/// Pruning deletes expired keys only, at most `limit`, and leaves the jobs alone.
pub async fn prune_deletes_expired_keys(db: Db) {
    let now = db.now().await.expect("now");
    let past = now - chrono::Duration::hours(2);
    let old: Vec<_> = (0..3)
        .map(|i| keyed(&format!("old-{i}"), HOUR, Some(past)))
        .collect();
    insert(&db, old).await;
    let live = insert(&db, vec![keyed("live", HOUR, None)]).await[0];
    let prune = |limit| IdempotencyPruneParams { limit, now: None };
    assert_eq!(db.idempotency_prune(prune(2)).await.expect("prune"), 2);
    assert_eq!(db.idempotency_prune(prune(10)).await.expect("prune"), 1);
    assert_eq!(db.idempotency_prune(prune(10)).await.expect("prune"), 0);
    assert_eq!(count(&db).await, 4, "jobs are kept");
    // The live key is kept; with a clock past its window it goes too.
    let repeat = insert(&db, vec![keyed("live", HOUR, None)]).await[0];
    assert_eq!((repeat.id, repeat.duplicate), (live.id, true));
    let later = IdempotencyPruneParams {
        limit: 10,
        now: Some(now + chrono::Duration::hours(2)),
    };
    assert_eq!(db.idempotency_prune(later).await.expect("prune"), 1);
}

/// Concurrent inserts of one key yield exactly one job; every caller gets its id.
pub async fn concurrent_inserts_of_one_key_insert_one_job(db: Db) {
    for round in 0..5 {
        let key = format!("race-{round}");
        let barrier = Arc::new(tokio::sync::Barrier::new(4));
        let tasks: Vec<_> = (0..4)
            .map(|_| {
                let (db, key, barrier) = (db.clone(), key.clone(), barrier.clone());
                tokio::spawn(async move {
                    barrier.wait().await;
                    // A batch, so PostgreSQL takes the general statement path too.
                    let jobs = vec![keyed(&key, HOUR, None), job("idem", "plain")];
                    insert(&db, jobs).await[0]
                })
            })
            .collect();
        let mut results = Vec::new();
        for task in tasks {
            results.push(task.await.expect("task"));
        }
        let fresh: Vec<_> = results.iter().filter(|r| !r.duplicate).collect();
        assert_eq!(fresh.len(), 1, "round {round}: {results:?}");
        assert!(results.iter().all(|r| r.id == fresh[0].id), "{results:?}");
    }
    let keyed_jobs = count(&db).await - 20;
    assert_eq!(keyed_jobs, 5, "one keyed job per round");
}
