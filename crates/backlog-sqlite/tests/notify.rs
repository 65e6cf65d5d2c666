//! Wake-ups between storages opened separately on the same file.

use std::time::Duration;

use backlog_sqlite::{testing::test_storage, SqliteStorage};
use backlog_storage::{Event, JobInsert, JobInsertManyParams, Storage};

#[tokio::test]
async fn insert_through_one_storage_wakes_a_subscriber_of_another() {
    let client = test_storage().await.unwrap();
    let worker = SqliteStorage::open(client.path(), Default::default())
        .await
        .unwrap();
    let mut events = worker.event_subscribe().await.unwrap();

    let mut later = JobInsert::new("later", "k", serde_json::json!({}));
    later.scheduled_at = Some(chrono::Utc::now() + chrono::Duration::hours(1));
    client
        .job_insert_many(JobInsertManyParams {
            jobs: vec![
                JobInsert::new("emails", "k", serde_json::json!({})),
                JobInsert::new("emails", "k", serde_json::json!({})),
                later,
            ],
        })
        .await
        .unwrap();

    let event = tokio::time::timeout(Duration::from_secs(5), events.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        event,
        Event::JobAvailable {
            queue: "emails".into()
        }
    );
    // Once per queue, and nothing for the scheduled-only queue.
    assert!(events.try_recv().is_err());
    worker.close().await.unwrap();
}
