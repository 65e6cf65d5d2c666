//! Migrations: up, list, down one step, down to nothing and up again, concurrent runs.

use backlog_postgres::testing::try_test_storage_unmigrated;
use backlog_postgres::MIGRATIONS;
use backlog_storage::{
    ErrorKind, JobInsert, JobInsertManyParams, MigrationDirection, MigrationRunParams, Storage,
};

fn up(target: Option<u32>) -> MigrationRunParams {
    MigrationRunParams {
        direction: MigrationDirection::Up,
        target,
    }
}

fn down(target: Option<u32>) -> MigrationRunParams {
    MigrationRunParams {
        direction: MigrationDirection::Down,
        target,
    }
}

fn all_versions() -> Vec<u32> {
    MIGRATIONS.iter().map(|m| m.version).collect()
}

async fn insert_one(storage: &impl Storage) -> Result<Vec<i64>, backlog_storage::Error> {
    let results = storage
        .job_insert_many(JobInsertManyParams {
            jobs: vec![JobInsert::new("default", "k", serde_json::json!({}))],
        })
        .await?;
    Ok(results.into_iter().map(|r| r.id).collect())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn up_list_down_and_up_again() {
    let storage = try_test_storage_unmigrated().await.unwrap();

    let listed = storage.migration_list().await.unwrap();
    assert_eq!(listed.len(), MIGRATIONS.len());
    assert!(listed.iter().all(|m| m.applied_at.is_none()), "{listed:?}");
    let err = insert_one(&storage).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotMigrated, "{err}");
    assert!(err.to_string().contains("backlog migrate"), "{err}");

    assert_eq!(
        storage.migration_run(up(None)).await.unwrap(),
        all_versions()
    );
    assert!(storage.migration_run(up(None)).await.unwrap().is_empty());
    let listed = storage.migration_list().await.unwrap();
    assert!(listed.iter().all(|m| m.applied_at.is_some()), "{listed:?}");
    assert_eq!(listed[0].name, "init");
    insert_one(&storage).await.unwrap();

    // One step back (the default) reverts the latest migration.
    let last = *all_versions().last().unwrap();
    assert_eq!(storage.migration_run(down(None)).await.unwrap(), vec![last]);
    let listed = storage.migration_list().await.unwrap();
    assert!(listed.last().unwrap().applied_at.is_none());

    // Down to 0 reverts everything; the tables are gone.
    storage.migration_run(up(None)).await.unwrap();
    let mut reverted = all_versions();
    reverted.reverse();
    assert_eq!(
        storage.migration_run(down(Some(0))).await.unwrap(),
        reverted
    );
    assert!(storage
        .migration_list()
        .await
        .unwrap()
        .iter()
        .all(|m| m.applied_at.is_none()));
    let err = insert_one(&storage).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotMigrated, "{err}");

    // And up again, through connections whose cached statements saw the old tables.
    assert_eq!(
        storage.migration_run(up(None)).await.unwrap(),
        all_versions()
    );
    assert_eq!(insert_one(&storage).await.unwrap(), vec![1]);
    assert_eq!(storage.job_get(1).await.unwrap().unwrap().queue, "default");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_runs_both_succeed() {
    let storage = try_test_storage_unmigrated().await.unwrap();
    let (a, b) = tokio::join!(
        storage.migration_run(up(None)),
        storage.migration_run(up(None))
    );
    let (a, b) = (a.unwrap(), b.unwrap());
    // Exactly one of them applied each migration.
    let mut applied = [a, b].concat();
    applied.sort_unstable();
    assert_eq!(applied, all_versions());
    insert_one(&storage).await.unwrap();
}

/// Migration 12 moves a job's timeout and backoff out of the reserved metadata keys of earlier
/// versions into their columns, and its down step puts them back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn job_options_move_out_of_metadata_and_back() {
    let storage = try_test_storage_unmigrated().await.unwrap();
    storage.migration_run(up(Some(11))).await.unwrap();
    let client = storage.pool().get().await.unwrap();
    let old_metadata = serde_json::json!({
        "mine": 1,
        "backlog_timeout_ms": 1500,
        "backlog_backoff": {"type": "fixed", "delay_ms": 250}
    });
    let id: i64 = client
        .query_one(
            "INSERT INTO backlog_job (queue, kind, max_attempts, metadata) \
             VALUES ('default', 'k', 3, $1) RETURNING id",
            &[&old_metadata],
        )
        .await
        .unwrap()
        .get(0);
    let plain: i64 = client
        .query_one(
            "INSERT INTO backlog_job (queue, kind, max_attempts, metadata) \
             VALUES ('default', 'k', 3, '{\"mine\": 2}') RETURNING id",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    drop(client);

    storage.migration_run(up(None)).await.unwrap();
    let row = storage.job_get(id).await.unwrap().unwrap();
    assert_eq!(row.timeout_ms, Some(1500));
    assert_eq!(
        row.backoff,
        Some(serde_json::json!({"type": "fixed", "delay_ms": 250}))
    );
    assert_eq!(row.metadata, serde_json::json!({"mine": 1}));
    let row = storage.job_get(plain).await.unwrap().unwrap();
    assert_eq!((row.timeout_ms, row.backoff), (None, None));
    assert_eq!(row.metadata, serde_json::json!({"mine": 2}));

    storage.migration_run(down(Some(11))).await.unwrap();
    let client = storage.pool().get().await.unwrap();
    let metadata: serde_json::Value = client
        .query_one("SELECT metadata FROM backlog_job WHERE id = $1", &[&id])
        .await
        .unwrap()
        .get(0);
    assert_eq!(metadata, old_metadata);
    let metadata: serde_json::Value = client
        .query_one("SELECT metadata FROM backlog_job WHERE id = $1", &[&plain])
        .await
        .unwrap()
        .get(0);
    assert_eq!(metadata, serde_json::json!({"mine": 2}));
}
