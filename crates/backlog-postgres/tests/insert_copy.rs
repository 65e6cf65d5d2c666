//! The pooled insert sends a batch of plain jobs by `COPY` (src/insert_copy.rs) rather than
//! through `job_insert_many.sql`; the transactional insert (src/tx.rs) keeps the statement. The
//! same batch through both must store the same rows, answer in input order, mark the fair
//! queues, wake the right queues, and a failure half-way must store nothing. Each test runs
//! with both forms of the `COPY`: row by row (PostgreSQL 16 and older) and through the server's
//! multi-insert buffer (17 and later).

use std::time::Duration;

use backlog_postgres::testing::test_storage_copying;
use backlog_postgres::PgStorage;
use backlog_storage::{ErrorKind, Event, JobInsert, JobInsertManyParams, Storage};
use backlog_types::{JobRow, JobState};
use chrono::{SubsecRound, TimeDelta, Utc};

/// 300 jobs (enough for `COPY`) over three queues: due now, due in the past, scheduled for later
/// (by time and by delay), a zero delay, with tags, metadata, fingerprints, timeouts, backoffs,
/// expiry times, priorities, and partition keys in the queue `fairly`. The queue `later` only
/// gets jobs for later.
fn batch() -> Vec<JobInsert> {
    // Whole microseconds, as stored.
    let now = Utc::now().trunc_subsecs(6);
    (0..300)
        .map(|i| {
            let queue = match i % 3 {
                0 => "copy_now",
                1 => "later",
                _ => "fairly",
            };
            let mut job =
                JobInsert::new(queue, "copied", serde_json::json!({ "i": i, "s": "é\"x" }));
            job.priority = (i % 5) as i16 - 2;
            job.max_attempts = 1 + i % 7;
            match (i % 3, i % 4) {
                (1, 0) => job.scheduled_at = Some(now + TimeDelta::hours(1)),
                (1, _) => job.run_after = Some(Duration::from_secs(3600 + i as u64)),
                (_, 0) => job.scheduled_at = Some(now - TimeDelta::hours(1)),
                (_, 1) => job.run_after = Some(Duration::ZERO),
                _ => {}
            }
            if i % 2 == 0 {
                job.tags = vec![format!("t{i}"), "shared".into()];
            }
            if i % 5 == 0 {
                job.metadata = serde_json::json!({ "tenant": i, "nested": { "a": [1, 2] } });
            }
            if i % 6 == 0 {
                job.fingerprint = Some(format!("fp-{i}"));
            }
            if i % 7 == 0 {
                job.timeout = Some(Duration::from_millis(1500 + i as u64));
                job.backoff = Some(serde_json::json!({ "fixed_ms": i }));
                job.expires_at = Some(now + TimeDelta::days(1));
            }
            if queue == "fairly" && i % 4 != 3 {
                job.partition_key = Some(format!("key-{}", i % 4));
            }
            job
        })
        .collect()
}

async fn rows(storage: &PgStorage, ids: &[i64]) -> Vec<JobRow> {
    let mut rows = Vec::new();
    for &id in ids {
        rows.push(storage.job_get(id).await.unwrap().expect("stored"));
    }
    rows
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copy_stores_what_the_statement_stores() {
    for row_by_row in [true, false] {
        copy_stores_what_the_statement_stores_with(row_by_row).await;
    }
}

async fn copy_stores_what_the_statement_stores_with(row_by_row: bool) {
    let storage = test_storage_copying(row_by_row).await;
    let mut events = storage.event_subscribe().await.unwrap();
    let jobs = batch();

    let copied = storage
        .job_insert_many(JobInsertManyParams { jobs: jobs.clone() })
        .await
        .unwrap();
    assert_eq!(copied.len(), jobs.len());
    assert!(copied.iter().all(|r| !r.duplicate));
    let copied_ids: Vec<i64> = copied.iter().map(|r| r.id).collect();
    assert!(
        copied_ids.windows(2).all(|w| w[0] < w[1]),
        "ids ascend in input order"
    );
    // Woken: the queues that received available jobs, each once; not `later`.
    let mut woken = Vec::new();
    while let Ok(event) = events.try_recv() {
        if let Event::JobAvailable { queue } = event {
            woken.push(queue);
        }
    }
    woken.sort();
    woken.dedup();
    assert_eq!(woken, ["copy_now", "fairly"]);
    let fair = storage
        .queue_get("fairly")
        .await
        .unwrap()
        .expect("settings");
    assert!(fair.fair, "a queue receiving keyed jobs becomes fair");
    for queue in ["copy_now", "later"] {
        let info = storage.queue_get(queue).await.unwrap();
        assert!(!info.is_some_and(|q| q.fair), "{queue} has no keyed jobs");
    }

    assert_stored_as_by_the_statement(&storage, &jobs, &copied_ids).await;
}

/// Inserts `jobs` again through the statement, in a transaction of the caller's, and checks
/// that the rows `copied_ids` stored by `COPY` are the statement's rows, job by job.
async fn assert_stored_as_by_the_statement(
    storage: &PgStorage,
    jobs: &[JobInsert],
    copied_ids: &[i64],
) {
    // The same batch through the statement, in a transaction of the caller's.
    let mut client = storage.pool().get().await.unwrap();
    let tx = client.transaction().await.unwrap();
    let stated = storage
        .job_insert_many_tx(
            &*tx,
            JobInsertManyParams {
                jobs: jobs.to_vec(),
            },
        )
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let stated_ids: Vec<i64> = stated.iter().map(|r| r.id).collect();

    let copied_rows = rows(storage, copied_ids).await;
    let stated_rows = rows(storage, &stated_ids).await;
    let created = copied_rows[0].created_at;
    for ((job, mut a), mut b) in jobs.iter().zip(copied_rows).zip(stated_rows) {
        // One transaction: one `now()` for every row.
        assert_eq!(a.created_at, created);
        match (job.scheduled_at, job.run_after) {
            (Some(at), _) => {
                assert_eq!(a.scheduled_at, at);
                assert_eq!(b.scheduled_at, at);
            }
            (None, after) => {
                let after = TimeDelta::from_std(after.unwrap_or_default()).unwrap();
                assert_eq!(a.scheduled_at - a.created_at, after, "{job:?}");
                assert_eq!(b.scheduled_at - b.created_at, after, "{job:?}");
            }
        }
        let due = a.scheduled_at <= a.created_at;
        let expected = if due {
            JobState::Available
        } else {
            JobState::Scheduled
        };
        assert_eq!(a.state, expected, "{job:?}");
        for row in [&mut a, &mut b] {
            row.id = 0;
            row.created_at = created;
            row.scheduled_at = created;
        }
        assert_eq!(a, b, "COPY and the statement stored different rows");
    }
}

/// Plain jobs (no tags, metadata, fingerprint, timeout, backoff, expiry or partition key) go by
/// a `COPY` of fewer columns; the others take their defaults, which must be what the statement
/// stores. A batch with one job that has any one of those options must keep every column.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plain_copy_stores_what_the_statement_stores() {
    for row_by_row in [true, false] {
        a_plain_copy_stores_what_the_statement_stores_with(row_by_row).await;
    }
}

async fn a_plain_copy_stores_what_the_statement_stores_with(row_by_row: bool) {
    let storage = test_storage_copying(row_by_row).await;
    let plain: Vec<JobInsert> = batch()
        .into_iter()
        .map(|job| JobInsert {
            tags: Vec::new(),
            metadata: serde_json::json!({}),
            fingerprint: None,
            timeout: None,
            backoff: None,
            expires_at: None,
            partition_key: None,
            ..job
        })
        .collect();
    let options: [fn(&mut JobInsert); 7] = [
        |job| job.tags = vec!["t".into()],
        |job| job.metadata = serde_json::json!({ "m": 1 }),
        |job| job.fingerprint = Some("fp".into()),
        |job| job.timeout = Some(Duration::from_secs(2)),
        |job| job.backoff = Some(serde_json::json!({ "fixed_ms": 5 })),
        |job| job.expires_at = Some(Utc::now().trunc_subsecs(6) + TimeDelta::days(1)),
        |job| job.partition_key = Some("k".into()),
    ];
    let mut batches = vec![plain.clone()];
    for option in options {
        let mut jobs = plain.clone();
        option(&mut jobs[150]);
        batches.push(jobs);
    }
    for jobs in batches {
        let copied = storage
            .job_insert_many(JobInsertManyParams { jobs: jobs.clone() })
            .await
            .unwrap();
        let copied_ids: Vec<i64> = copied.iter().map(|r| r.id).collect();
        assert!(copied_ids.windows(2).all(|w| w[0] < w[1]));
        assert_stored_as_by_the_statement(&storage, &jobs, &copied_ids).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failure_half_way_through_the_copy_stores_nothing() {
    for row_by_row in [true, false] {
        a_failure_half_way_through_the_copy_stores_nothing_with(row_by_row).await;
    }
}

async fn a_failure_half_way_through_the_copy_stores_nothing_with(row_by_row: bool) {
    let storage = test_storage_copying(row_by_row).await;
    let mut jobs = batch();
    jobs[200].max_attempts = 0; // violates the table's CHECK, on the server
    let err = storage
        .job_insert_many(JobInsertManyParams { jobs })
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput, "{err}");
    let mut jobs = batch();
    jobs[299].partition_key = Some("k".repeat(300)); // the last row fails
    let err = storage
        .job_insert_many(JobInsertManyParams { jobs })
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput, "{err}");
    let counts = storage.job_count_by_state().await.unwrap();
    assert!(counts.is_empty(), "nothing stored: {counts:?}");
    assert!(storage.queue_get("fairly").await.unwrap().is_none());

    // Every pooled connection is out of the failed transaction, and the next batch goes in.
    let status = storage.pool().status();
    let mut held = Vec::new();
    for _ in 0..status.size {
        let client = storage.pool().get().await.unwrap();
        client.simple_query("SELECT 1").await.unwrap();
        held.push(client);
    }
    drop(held);
    let stored = storage
        .job_insert_many(JobInsertManyParams { jobs: batch() })
        .await
        .unwrap();
    assert_eq!(stored.len(), 300);
}
