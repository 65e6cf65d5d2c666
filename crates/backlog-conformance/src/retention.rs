//! Poison jobs, archiving and purging: what keeps the hot table small and the dead letters
//! manageable.

use std::time::Duration;

use backlog_storage::{
    Failure, JobDeleteFinalizedParams, JobFetchAvailableParams, JobIdsParams, JobOutcome,
    JobRescueParams,
};
use backlog_types::{JobRow, JobState};
use chrono::Utc;

use crate::support::{fetch, finalize, get, insert, insert_one, job, Db};

async fn claim_with_short_lease(db: &Db, queue: &str) -> JobRow {
    db.job_fetch_available(JobFetchAvailableParams {
        queue: queue.to_owned(),
        max: 1,
        worker_id: "doomed".into(),
        lease: Duration::from_secs(1),
        now: None,
        kinds: Vec::new(),
    })
    .await
    .unwrap()
    .remove(0)
}

/// A job rescued `poison_threshold` times is discarded as poison, even with attempts left.
pub async fn rescue_discards_poison_jobs(db: Db) {
    let id = insert_one(&db, job("q", "k")).await;
    for round in 1..=3 {
        claim_with_short_lease(&db, "q").await;
        let later = Utc::now() + chrono::Duration::minutes(round * 10);
        let rescued = db
            .job_rescue(JobRescueParams {
                now: Some(later),
                max: 10,
                poison_threshold: 3,
            })
            .await
            .unwrap();
        assert_eq!(rescued, vec![id]);
        let row = get(&db, id).await;
        assert_eq!(row.rescue_count, round as i32);
        if round < 3 {
            assert_eq!(row.state, JobState::Retryable, "round {round}");
            // Make it available again, as the scheduler would.
            db.job_schedule(backlog_storage::JobScheduleParams {
                now: Some(later),
                max: 10,
            })
            .await
            .unwrap();
        } else {
            assert_eq!(row.state, JobState::Discarded);
            let last = row.errors.last().unwrap();
            assert!(
                last.message.starts_with("poison job: rescued 3 times"),
                "{}",
                last.message
            );
        }
    }
    assert_eq!(
        get(&db, id).await.max_attempts,
        25,
        "attempts were left: discarded as poison"
    );
}

/// With `archive`, deleted jobs are kept whole in the archive and read back as they were.
pub async fn delete_finalized_can_archive(db: Db) {
    let mut j = job("q", "k");
    j.args = serde_json::json!({"keep": "me"}).into();
    j.tags = vec!["t".into()];
    insert(&db, vec![j, job("q", "k")]).await;
    let rows = fetch(&db, "q", 2).await;
    finalize(
        &db,
        &rows,
        vec![
            JobOutcome::Completed,
            JobOutcome::Discard {
                failure: Failure::error("bad"),
            },
        ],
    )
    .await;
    let before = get(&db, rows[1].id).await;
    let future = Utc::now() + chrono::Duration::hours(1);
    let deleted = db
        .job_delete_finalized(JobDeleteFinalizedParams {
            completed_before: Some(future),
            cancelled_before: Some(future),
            discarded_before: Some(future),
            max: 100,
            archive: true,
        })
        .await
        .unwrap();
    assert_eq!(deleted, 2);
    assert!(db.job_get(rows[0].id).await.unwrap().is_none());
    let archived = db
        .job_archive_get(rows[1].id)
        .await
        .unwrap()
        .expect("archived");
    assert_eq!(archived, before, "the archive keeps the whole job");
    let first = db
        .job_archive_get(rows[0].id)
        .await
        .unwrap()
        .expect("archived");
    assert_eq!(first.args, serde_json::json!({"keep": "me"}));
    assert_eq!(first.state, JobState::Completed);
    assert!(db.job_archive_get(123_456).await.unwrap().is_none());
}

/// Purge deletes finalized jobs only (dead letters), never waiting or running ones.
pub async fn purge_deletes_only_finalized(db: Db) {
    insert(&db, (0..3).map(|_| job("q", "k")).collect()).await;
    let rows = fetch(&db, "q", 2).await;
    finalize(
        &db,
        &rows[..1],
        vec![JobOutcome::Discard {
            failure: Failure::error("x"),
        }],
    )
    .await;
    let waiting = insert_one(&db, job("other", "k")).await;
    let purged = db
        .job_purge_many(JobIdsParams {
            ids: vec![rows[0].id, rows[1].id, waiting, 424_242],
        })
        .await
        .unwrap();
    assert_eq!(purged, vec![rows[0].id]);
    assert!(db.job_get(rows[0].id).await.unwrap().is_none());
    assert_eq!(get(&db, rows[1].id).await.state, JobState::Running);
    assert_eq!(get(&db, waiting).await.state, JobState::Available);
    assert!(db
        .job_purge_many(JobIdsParams::default())
        .await
        .unwrap()
        .is_empty());
}
