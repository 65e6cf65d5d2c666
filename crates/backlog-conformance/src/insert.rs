//! `job_insert_many`.

use std::time::Duration;

use backlog_storage::{JobInsertManyParams, OnConflict, UniqueInsert};
use backlog_types::JobState;
use chrono::Utc;
use serde_json::json;

use crate::support::{assert_close, get, insert, job, Db};

/// Ids come back ascending, in the order the jobs were given, each naming its own job.
pub async fn returns_ids_in_input_order(db: Db) {
    let jobs = (0..10)
        .map(|i| {
            let mut j = job("default", "k");
            j.args = json!({ "n": i }).into();
            j
        })
        .collect();
    let ids = insert(&db, jobs).await;
    assert_eq!(ids.len(), 10);
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "{ids:?}");
    for (i, id) in ids.iter().enumerate() {
        assert_eq!(get(&db, *id).await.args, json!({ "n": i }));
    }

    // A batch long enough to be split into statements of several sizes (and, on SQLite, into
    // chunks encoded while the writer inserts), with keyed jobs (unique keys, an idempotency
    // key, and a duplicate of an earlier unique job) between plain ones: every id, new or
    // duplicate, still names the job given at its place.
    let first = ids[3];
    let mut known = job("default", "k");
    known.unique = Some(unique_key(b"known"));
    known.args = json!({ "n": "known" }).into();
    let known = insert(&db, vec![known]).await[0];
    let jobs: Vec<_> = (0..611)
        .map(|i| {
            let mut j = job("default", "k");
            j.args = json!({ "n": i }).into();
            match i {
                70 => j.unique = Some(unique_key(b"seventy")),
                300 => j.unique = Some(unique_key(b"three hundred")),
                71 => {
                    j.unique = Some(unique_key(b"known"));
                    j.args = json!({ "n": "known" }).into();
                }
                150 => {
                    j.idempotency = Some(backlog_storage::IdempotencyInsert {
                        key: "one-fifty".to_owned(),
                        window: Duration::from_secs(60),
                        now: None,
                    })
                }
                _ => {}
            }
            j
        })
        .collect();
    let results = db
        .job_insert_many(JobInsertManyParams { jobs })
        .await
        .expect("insert");
    let ids: Vec<_> = results.iter().map(|r| r.id).collect();
    assert_eq!(ids.len(), 611);
    assert!(results[71].duplicate);
    assert_eq!(ids[71], known, "the duplicate reports the live job's id");
    assert_eq!(results.iter().filter(|r| r.duplicate).count(), 1);
    let mut new: Vec<_> = ids.iter().copied().filter(|id| *id != known).collect();
    assert!(new.windows(2).all(|w| w[0] < w[1]), "{ids:?}");
    new.dedup();
    assert_eq!(new.len(), 610);
    assert!(new[0] > first);
    for (i, id) in ids.iter().enumerate() {
        let n = if i == 71 { json!("known") } else { json!(i) };
        assert_eq!(get(&db, *id).await.args, json!({ "n": n }), "job {i}");
    }
}

fn unique_key(key: &[u8]) -> UniqueInsert {
    UniqueInsert {
        key: key.to_vec(),
        states: JobState::mask(&[JobState::Available, JobState::Scheduled]),
        on_conflict: OnConflict::Skip,
    }
}

/// An empty batch inserts nothing and does not fail.
pub async fn empty_batch_is_a_no_op(db: Db) {
    let ids = db
        .job_insert_many(JobInsertManyParams::default())
        .await
        .unwrap();
    assert!(ids.is_empty());
}

/// A job for the future is `scheduled`; one for the past is `available` at once.
pub async fn future_jobs_are_scheduled(db: Db) {
    let mut later = job("default", "k");
    later.scheduled_at = Some(Utc::now() + chrono::Duration::hours(1));
    let mut earlier = job("default", "k");
    earlier.scheduled_at = Some(Utc::now() - chrono::Duration::hours(1));
    let ids = insert(&db, vec![later, earlier]).await;
    assert_eq!(get(&db, ids[0]).await.state, JobState::Scheduled);
    assert_eq!(get(&db, ids[1]).await.state, JobState::Available);
}

/// Every field given at insert is stored, and the defaults are set.
pub async fn stores_every_field(db: Db) {
    let mut j = job("emails", "send_email");
    j.args = json!({"to": "a@example.com", "n": [1, 2, 3]}).into();
    j.priority = 7;
    j.max_attempts = 3;
    j.tags = vec!["welcome".into(), "user:42".into()];
    j.metadata = json!({"request_id": "r-1"});
    let id = insert(&db, vec![j]).await[0];
    let row = get(&db, id).await;
    assert_eq!(row.id, id);
    assert_eq!(row.queue, "emails");
    assert_eq!(row.kind, "send_email");
    assert_eq!(row.args, json!({"to": "a@example.com", "n": [1, 2, 3]}));
    assert_eq!(row.priority, 7);
    assert_eq!(row.max_attempts, 3);
    assert_eq!(row.attempt, 0);
    assert_eq!(row.tags, vec!["welcome".to_string(), "user:42".to_string()]);
    assert_eq!(row.metadata, json!({"request_id": "r-1"}));
    assert_eq!(row.state, JobState::Available);
    assert!(row.attempted_at.is_none());
    assert!(row.finalized_at.is_none());
    assert!(row.lease_expires_at.is_none());
    assert!(row.attempted_by.is_empty());
    assert!(row.errors.is_empty());
    assert!(row.attempt_durations_us.is_empty());
    let tolerance = Duration::from_secs(5);
    assert_close(row.created_at, Utc::now(), tolerance, "created_at");
    assert_close(row.scheduled_at, row.created_at, tolerance, "scheduled_at");
}

/// A job's own timeout, backoff and expiry are stored in their columns, not in the metadata,
/// through each insert path: one job alone, a batch, a batch with an idempotency key.
pub async fn stores_job_options(db: Db) {
    let expires = Utc::now() + chrono::Duration::minutes(5);
    let with_options = |n: i64| {
        let mut j = job("default", "k");
        j.args = json!({ "n": n }).into();
        j.metadata = json!({"mine": true});
        j.timeout = Some(Duration::from_millis(1_500));
        j.backoff = Some(json!({"type": "fixed", "delay_ms": 250}));
        j.expires_at = Some(expires);
        j
    };
    let alone = insert(&db, vec![with_options(1)]).await;
    let mut keyed = with_options(3);
    keyed.idempotency = Some(backlog_storage::IdempotencyInsert {
        key: "options-key".into(),
        window: Duration::from_secs(60),
        now: None,
    });
    let batch = insert(&db, vec![with_options(2), keyed, job("default", "plain")]).await;
    for id in [alone[0], batch[0], batch[1]] {
        let row = get(&db, id).await;
        assert_eq!(row.timeout_ms, Some(1_500), "job {id}");
        assert_eq!(row.backoff, Some(json!({"type": "fixed", "delay_ms": 250})));
        assert_close(
            row.expires_at.expect("expires_at stored"),
            expires,
            Duration::from_millis(1),
            "expires_at",
        );
        assert_eq!(
            row.metadata,
            json!({"mine": true}),
            "metadata holds only the user's"
        );
    }
    let plain = get(&db, batch[2]).await;
    assert_eq!(
        (plain.timeout_ms, plain.backoff, plain.expires_at),
        (None, None, None)
    );
}

/// Unicode, nesting, big numbers and escapes survive the round trip.
pub async fn args_round_trip_exactly(db: Db) {
    let args = json!({
        "text": "héllo wörld ✓ 日本語 \"quoted\" \\ back\nslash",
        "nested": {"deep": [{"a": null}, true, false, 1.5, -7]},
        "big": 9_007_199_254_740_991_i64,
        "empty": {},
    });
    let mut j = job("default", "k");
    j.args = (&args).into();
    let id = insert(&db, vec![j]).await[0];
    assert_eq!(get(&db, id).await.args, args);
}

/// A big batch whose 700th job the database refuses (a queue name over 128 characters, which the
/// client would have refused first) inserts none of its jobs: the earlier ones, already written
/// in the same transaction, are rolled back.
pub async fn a_failing_job_fails_the_whole_batch(db: Db) {
    let jobs = (0..1_000)
        .map(|i| {
            let queue = if i == 700 {
                "q".repeat(200)
            } else {
                "big".to_owned()
            };
            job(&queue, "k")
        })
        .collect();
    let refused = db.job_insert_many(JobInsertManyParams { jobs }).await;
    assert!(refused.is_err(), "{refused:?}");
    let counts = db.job_count_by_state().await.unwrap();
    assert!(counts.is_empty(), "{counts:?}");
    // The storage goes on working.
    assert_eq!(insert(&db, vec![job("big", "k")]).await.len(), 1);
}

/// A batch of 5,000 goes in as one call.
pub async fn large_batch(db: Db) {
    let jobs = (0..5_000).map(|_| job("bulk", "k")).collect();
    let ids = insert(&db, jobs).await;
    assert_eq!(ids.len(), 5_000);
    let mut sorted = ids.clone();
    sorted.dedup();
    assert_eq!(sorted.len(), 5_000);
}
