//! The maintenance services without a runner (`Maintainer`, what `backlog serve` runs): it is
//! elected, promotes due jobs, and resigns at shutdown. On both backends.

use std::sync::Arc;
use std::time::Duration;

use backlog::maintenance::{Maintainer, MaintenanceConfig, MAINTENANCE_LEASE};
use backlog::storage::{Event, JobInsert, JobInsertManyParams};
use backlog::Storage;

type Db = Arc<dyn Storage>;

async fn elects_promotes_and_resigns(db: Db) {
    let mut events = db.event_subscribe().await.unwrap();
    let config = MaintenanceConfig {
        schedule_interval: Duration::from_millis(50),
        ..MaintenanceConfig::default()
    };
    let maintainer = Maintainer::start(db.clone(), "maintainer-test".into(), config);
    let mut leadership = maintainer.leadership();
    tokio::time::timeout(Duration::from_secs(10), leadership.wait_for(|l| *l))
        .await
        .expect("elected in time")
        .unwrap();
    let leader = db.leader_get(MAINTENANCE_LEASE).await.unwrap().unwrap();
    assert_eq!(leader.leader_id, "maintainer-test");

    // A job due in a moment is made available by the scheduler, which wakes subscribers.
    let mut job = JobInsert::new("maint_q", "k", serde_json::json!({}));
    job.scheduled_at = Some(chrono::Utc::now() + chrono::Duration::milliseconds(200));
    let id = db
        .job_insert_many(JobInsertManyParams { jobs: vec![job] })
        .await
        .unwrap()[0]
        .id;
    tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match events.recv().await {
                Ok(Event::JobAvailable { queue }) if queue == "maint_q" => break,
                Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                Err(e) => panic!("{e}"),
            }
        }
    })
    .await
    .expect("the scheduler promoted the job");
    let row = db.job_get(id).await.unwrap().unwrap();
    assert_eq!(row.state, backlog::JobState::Available);

    maintainer.shutdown().await;
    assert!(
        db.leader_get(MAINTENANCE_LEASE).await.unwrap().is_none(),
        "resigned at shutdown"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_elects_promotes_and_resigns() {
    let db: Db = Arc::new(backlog::sqlite::testing::test_storage().await.unwrap());
    elects_promotes_and_resigns(db).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_elects_promotes_and_resigns() {
    let db: Db = Arc::new(backlog::postgres::testing::test_storage().await);
    elects_promotes_and_resigns(db).await;
}
