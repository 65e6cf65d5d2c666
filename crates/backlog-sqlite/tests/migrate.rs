//! The migrator: up, list, down one step, down to 0 and up again.

use backlog_sqlite::{testing::test_storage, MIGRATIONS};
use backlog_storage::{
    ErrorKind, JobInsert, JobInsertManyParams, MigrationDirection, MigrationRunParams, Storage,
};

fn run(direction: MigrationDirection, target: Option<u32>) -> MigrationRunParams {
    MigrationRunParams { direction, target }
}

#[tokio::test]
async fn up_list_down_and_up_again() {
    // test_storage() has already applied everything.
    let storage = test_storage().await.unwrap();
    let latest = MIGRATIONS.last().unwrap().version;

    let list = storage.migration_list().await.unwrap();
    assert_eq!(list.len(), MIGRATIONS.len());
    assert!(list.iter().all(|m| m.applied_at.is_some()), "{list:?}");
    assert_eq!(list[0].name, "init");

    // Up again is a no-op.
    let changed = storage
        .migration_run(run(MigrationDirection::Up, None))
        .await
        .unwrap();
    assert!(changed.is_empty());

    // Down one step reverts the latest only.
    let changed = storage
        .migration_run(run(MigrationDirection::Down, None))
        .await
        .unwrap();
    assert_eq!(changed, vec![latest]);
    let list = storage.migration_list().await.unwrap();
    assert!(list.last().unwrap().applied_at.is_none());

    // Down to 0 reverts the rest; the job table is gone.
    storage
        .migration_run(run(MigrationDirection::Down, Some(0)))
        .await
        .unwrap();
    let list = storage.migration_list().await.unwrap();
    assert!(list.iter().all(|m| m.applied_at.is_none()), "{list:?}");
    let err = storage.job_get(1).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotMigrated, "{err}");
    assert!(err.to_string().contains("backlog migrate"), "{err}");

    // Up again applies everything, in order.
    let changed = storage
        .migration_run(run(MigrationDirection::Up, None))
        .await
        .unwrap();
    let all: Vec<u32> = MIGRATIONS.iter().map(|m| m.version).collect();
    assert_eq!(changed, all);
    let ids = storage
        .job_insert_many(JobInsertManyParams {
            jobs: vec![JobInsert::new("default", "k", serde_json::json!({}))],
        })
        .await
        .unwrap();
    assert_eq!(ids[0].id, 1);
}

#[tokio::test]
async fn fresh_database_lists_nothing_applied() {
    let dir = std::env::temp_dir().join(format!("backlog-sqlite-fresh-{}", fastrand::u64(..)));
    let storage = backlog_sqlite::SqliteStorage::open(dir.join("db"), Default::default())
        .await
        .unwrap();
    let list = storage.migration_list().await.unwrap();
    assert!(list.iter().all(|m| m.applied_at.is_none()));
    let err = storage
        .job_insert_many(JobInsertManyParams {
            jobs: vec![JobInsert::new("default", "k", serde_json::json!({}))],
        })
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotMigrated, "{err}");
    storage.close().await.unwrap();
    std::fs::remove_dir_all(dir).unwrap();
}

/// Migration 12 moves a job's timeout and backoff out of the reserved metadata keys of earlier
/// versions into their columns, and its down step puts them back.
#[tokio::test]
async fn job_options_move_out_of_metadata_and_back() {
    let storage = test_storage().await.unwrap();
    storage
        .migration_run(run(MigrationDirection::Down, Some(11)))
        .await
        .unwrap();
    let old_metadata = serde_json::json!({
        "mine": 1,
        "backlog_timeout_ms": 1500,
        "backlog_backoff": {"type": "fixed", "delay_ms": 250}
    });
    let raw = rusqlite::Connection::open(storage.path()).unwrap();
    let insert = "INSERT INTO backlog_job (state, queue, kind, max_attempts, scheduled_at, \
                  created_at, metadata) VALUES ('available', 'default', 'k', 3, \
                  '2026-01-01T00:00:00.000000Z', '2026-01-01T00:00:00.000000Z', ?1) RETURNING id";
    let id: i64 = raw
        .query_row(insert, [old_metadata.to_string()], |r| r.get(0))
        .unwrap();
    let plain: i64 = raw
        .query_row(insert, [r#"{"mine":2}"#], |r| r.get(0))
        .unwrap();

    storage
        .migration_run(run(MigrationDirection::Up, None))
        .await
        .unwrap();
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

    storage
        .migration_run(run(MigrationDirection::Down, Some(11)))
        .await
        .unwrap();
    let metadata = |id: i64| -> serde_json::Value {
        let text: String = raw
            .query_row(
                "SELECT metadata FROM backlog_job WHERE id = ?1",
                [id],
                |r| r.get(0),
            )
            .unwrap();
        serde_json::from_str(&text).unwrap()
    };
    assert_eq!(metadata(id), old_metadata);
    assert_eq!(metadata(plain), serde_json::json!({"mine": 2}));
}
