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
