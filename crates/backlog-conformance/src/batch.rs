//! Batches: members added over time, one callback when every member finished, nesting, and no
//! double callback when the last two members finish at once.

use backlog_storage::{
    BatchAddParams, BatchCallback, BatchCounts, BatchCreateParams, BatchId, BatchListParams,
    CallbackOn, ErrorKind, Failure, IdempotencyInsert, JobListParams, JobOutcome,
};
use backlog_types::{JobId, JobRow, JobState};
use serde_json::json;

use crate::support::{fetch, finalize, job, Db};

fn callback(on: CallbackOn) -> BatchCallback {
    BatchCallback {
        queue: "callbacks".to_owned(),
        kind: "report".to_owned(),
        args: json!({"to": "ops"}),
        priority: 0,
        max_attempts: 3,
        on,
    }
}

async fn create(db: &Db, parent: Option<BatchId>, on: Option<CallbackOn>) -> BatchId {
    db.batch_create(BatchCreateParams {
        parent,
        description: "import".to_owned(),
        callback: on.map(callback),
        idempotency_key: None,
    })
    .await
    .expect("batch create")
}

async fn add(db: &Db, batch: BatchId, queue: &str, n: usize) -> Vec<JobId> {
    let jobs = (0..n).map(|_| job(queue, "member")).collect();
    db.batch_add(BatchAddParams { batch, jobs })
        .await
        .expect("batch add")
        .into_iter()
        .map(|r| r.id)
        .collect()
}

async fn callbacks(db: &Db) -> Vec<JobRow> {
    db.job_list(JobListParams {
        kind: Some("report".to_owned()),
        ..Default::default()
    })
    .await
    .unwrap()
}

fn counts(row: &JobRow) -> BatchCounts {
    serde_json::from_value(row.args["batch"].clone()).expect("counts under args.batch")
}

/// Jobs added before and after some finished; the callback comes once, after the seal and the
/// last member, with the counts and the user's args.
pub async fn callback_once_after_seal_and_last_member(db: Db) {
    let batch = create(&db, None, Some(CallbackOn::Complete)).await;
    add(&db, batch, "work", 2).await;
    let first = fetch(&db, "work", 2).await;
    finalize(&db, &first[..1], vec![JobOutcome::Completed]).await;
    add(&db, batch, "work", 1).await;
    finalize(
        &db,
        &first[1..],
        vec![JobOutcome::Discard {
            failure: Failure::error("bad row"),
        }],
    )
    .await;
    let sealed = db.batch_seal(batch).await.unwrap();
    assert!(sealed.sealed_at.is_some());
    assert!(sealed.finished_at.is_none(), "one member still waits");
    assert!(callbacks(&db).await.is_empty());
    let last = fetch(&db, "work", 10).await;
    assert_eq!(last.len(), 1);
    finalize(&db, &last, vec![JobOutcome::Completed]).await;
    let cbs = callbacks(&db).await;
    assert_eq!(cbs.len(), 1);
    assert_eq!(cbs[0].queue, "callbacks");
    assert_eq!(cbs[0].state, JobState::Available);
    assert_eq!(cbs[0].args["to"], "ops");
    assert_eq!(
        counts(&cbs[0]),
        BatchCounts {
            id: batch,
            total: 3,
            succeeded: 2,
            failed: 1,
            cancelled: 0
        }
    );
    let row = db.batch_get(batch).await.unwrap().unwrap();
    assert!(row.finished_at.is_some());
    assert_eq!(row.callback_job_id, Some(cbs[0].id));
    // Sealing again changes nothing and enqueues nothing.
    db.batch_seal(batch).await.unwrap();
    assert_eq!(callbacks(&db).await.len(), 1);
}

/// Sealing a batch whose members all finished fires the callback at once; an empty sealed
/// batch too.
pub async fn seal_after_members_finished_fires(db: Db) {
    let batch = create(&db, None, Some(CallbackOn::Complete)).await;
    add(&db, batch, "work", 1).await;
    let rows = fetch(&db, "work", 1).await;
    finalize(&db, &rows, vec![JobOutcome::Completed]).await;
    assert!(callbacks(&db).await.is_empty(), "not sealed yet");
    let sealed = db.batch_seal(batch).await.unwrap();
    assert!(sealed.finished_at.is_some());
    let empty = create(&db, None, Some(CallbackOn::Success)).await;
    db.batch_seal(empty).await.unwrap();
    assert_eq!(callbacks(&db).await.len(), 2);
}

/// A success-only callback is not enqueued when a member failed or was cancelled; the batch
/// still finishes.
pub async fn success_callback_skipped_on_failure(db: Db) {
    let batch = create(&db, None, Some(CallbackOn::Success)).await;
    add(&db, batch, "work", 2).await;
    db.batch_seal(batch).await.unwrap();
    let rows = fetch(&db, "work", 2).await;
    finalize(
        &db,
        &rows,
        vec![
            JobOutcome::Completed,
            JobOutcome::Cancel {
                failure: Failure::error("stop"),
            },
        ],
    )
    .await;
    let row = db.batch_get(batch).await.unwrap().unwrap();
    assert!(row.finished_at.is_some());
    assert_eq!((row.counts.succeeded, row.counts.cancelled), (1, 1));
    assert!(callbacks(&db).await.is_empty());
}

/// A child batch is one member of its parent: the parent's callback waits for the child's
/// members, and counts the child as succeeded.
pub async fn nested_batches(db: Db) {
    let parent = create(&db, None, Some(CallbackOn::Success)).await;
    let child = create(&db, Some(parent), Some(CallbackOn::Complete)).await;
    add(&db, parent, "work", 1).await;
    add(&db, child, "work", 2).await;
    db.batch_seal(child).await.unwrap();
    db.batch_seal(parent).await.unwrap();
    let rows = fetch(&db, "work", 3).await;
    finalize(&db, &rows, vec![JobOutcome::Completed; 3]).await;
    let cbs = callbacks(&db).await;
    assert_eq!(cbs.len(), 2, "the child's and the parent's");
    let mut by_batch: Vec<BatchCounts> = cbs.iter().map(counts).collect();
    by_batch.sort_by_key(|c| c.id);
    assert_eq!(
        by_batch,
        vec![
            BatchCounts {
                id: parent,
                total: 2,
                succeeded: 2,
                failed: 0,
                cancelled: 0
            },
            BatchCounts {
                id: child,
                total: 2,
                succeeded: 2,
                failed: 0,
                cancelled: 0
            },
        ]
    );
    let listed = db.batch_list(BatchListParams::default()).await.unwrap();
    assert_eq!(
        listed.iter().map(|b| b.counts.id).collect::<Vec<_>>(),
        vec![child, parent]
    );
    assert_eq!(listed[0].parent, Some(parent));
}

/// Members cannot join a sealed or missing batch, nor children a sealed parent.
pub async fn sealed_batch_refuses_members(db: Db) {
    let batch = create(&db, None, None).await;
    db.batch_seal(batch).await.unwrap();
    let err = db
        .batch_add(BatchAddParams {
            batch,
            jobs: vec![job("work", "member")],
        })
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
    let err = db
        .batch_create(BatchCreateParams {
            parent: Some(batch),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
    let err = db.batch_seal(batch + 1000).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
    assert!(db.job_list(Default::default()).await.unwrap().is_empty());
}

/// The last two members finishing at the same moment on two connections enqueue exactly one
/// callback.
pub async fn concurrent_last_members_enqueue_one_callback(db: Db) {
    for round in 0..8 {
        let batch = create(&db, None, Some(CallbackOn::Complete)).await;
        add(&db, batch, "work", 2).await;
        db.batch_seal(batch).await.unwrap();
        let rows = fetch(&db, "work", 2).await;
        assert_eq!(rows.len(), 2);
        let (one, two) = (db.clone(), db.clone());
        let (r1, r2) = (rows[0].clone(), rows[1].clone());
        let first = tokio::spawn(async move {
            finalize(&one, &[r1], vec![JobOutcome::Completed]).await;
        });
        let second = tokio::spawn(async move {
            finalize(&two, &[r2], vec![JobOutcome::Completed]).await;
        });
        first.await.unwrap();
        second.await.unwrap();
        let fired: Vec<JobRow> = callbacks(&db)
            .await
            .into_iter()
            .filter(|j| counts(j).id == batch)
            .collect();
        assert_eq!(fired.len(), 1, "round {round}");
        assert_eq!(counts(&fired[0]).succeeded, 2);
    }
}

/// A member cancelled before it ran counts as cancelled, and can be the last member.
pub async fn cancelled_member_counts(db: Db) {
    let batch = create(&db, None, Some(CallbackOn::Complete)).await;
    let ids = add(&db, batch, "work", 1).await;
    db.batch_seal(batch).await.unwrap();
    db.job_cancel_by_filter(backlog_storage::JobFilter {
        ids,
        ..Default::default()
    })
    .await
    .unwrap();
    let cbs = callbacks(&db).await;
    assert_eq!(cbs.len(), 1);
    assert_eq!(counts(&cbs[0]).cancelled, 1);
}

/// A batch created again with the same idempotency key is the same batch (nothing new, the
/// parent not counted twice); members added again with the same keys are neither inserted nor
/// counted again, and the batch still finishes once with the right counts.
pub async fn keyed_creation_and_members_are_stored_once(db: Db) {
    let parent = create(&db, None, None).await;
    let params = BatchCreateParams {
        parent: Some(parent),
        description: "resend".to_owned(),
        callback: Some(callback(CallbackOn::Complete)),
        idempotency_key: Some("req-1".to_owned()),
    };
    let batch = db.batch_create(params.clone()).await.unwrap();
    assert_eq!(db.batch_create(params).await.unwrap(), batch);
    let other = db
        .batch_create(BatchCreateParams {
            idempotency_key: Some("req-2".to_owned()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_ne!(other, batch);
    assert_eq!(db.batch_get(parent).await.unwrap().unwrap().counts.total, 1);
    let bad = db
        .batch_create(BatchCreateParams {
            idempotency_key: Some("has space".to_owned()),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(bad.kind(), ErrorKind::InvalidInput);

    let keyed = |keys: &[&str]| -> Vec<backlog_storage::JobInsert> {
        keys.iter()
            .map(|key| {
                let mut j = job("work", "member");
                j.idempotency = Some(IdempotencyInsert {
                    key: (*key).to_owned(),
                    window: std::time::Duration::from_secs(3600),
                    now: None,
                });
                j
            })
            .collect()
    };
    let first = db
        .batch_add(BatchAddParams {
            batch,
            jobs: keyed(&["req-1/0", "req-1/1"]),
        })
        .await
        .unwrap();
    assert!(first.iter().all(|r| !r.duplicate));
    // The resend overlaps: two known keys and a new one.
    let again = db
        .batch_add(BatchAddParams {
            batch,
            jobs: keyed(&["req-1/0", "req-1/1", "req-1/2"]),
        })
        .await
        .unwrap();
    assert_eq!(
        again.iter().map(|r| r.duplicate).collect::<Vec<_>>(),
        vec![true, true, false]
    );
    assert_eq!(again[0].id, first[0].id);
    assert_eq!(again[1].id, first[1].id);
    assert_eq!(db.batch_get(batch).await.unwrap().unwrap().counts.total, 3);
    let unique = {
        let mut j = job("work", "member");
        j.unique = Some(backlog_storage::UniqueInsert {
            key: b"u".to_vec(),
            states: JobState::mask(&[JobState::Available]),
            on_conflict: backlog_storage::OnConflict::Skip,
        });
        j
    };
    let err = db
        .batch_add(BatchAddParams {
            batch,
            jobs: vec![unique],
        })
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);

    db.batch_seal(batch).await.unwrap();
    // After the seal, a resend of members already added is answered with them; a new member
    // is refused, and nothing of the refused call stays.
    let resent = db
        .batch_add(BatchAddParams {
            batch,
            jobs: keyed(&["req-1/2", "req-1/0"]),
        })
        .await
        .unwrap();
    assert!(resent.iter().all(|r| r.duplicate));
    assert_eq!(resent[0].id, again[2].id);
    let err = db
        .batch_add(BatchAddParams {
            batch,
            jobs: keyed(&["req-1/0", "req-1/9"]),
        })
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
    let members = fetch(&db, "work", 10).await;
    assert_eq!(members.len(), 3);
    finalize(&db, &members, vec![JobOutcome::Completed; 3]).await;
    let done = db.batch_get(batch).await.unwrap().unwrap();
    assert!(done.finished_at.is_some());
    assert_eq!((done.counts.total, done.counts.succeeded), (3, 3));
    assert_eq!(callbacks(&db).await.len(), 1);
}
