//! Wake-ups between storages opened separately on the same file, and from other processes.

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

/// Inserts an available job of `queue` as another process would: a plain connection of its
/// own, no wake-up of this process.
fn insert_from_another_process(path: &std::path::Path, queue: &str) {
    let conn = rusqlite::Connection::open(path).unwrap();
    conn.busy_timeout(Duration::from_secs(5)).unwrap();
    conn.execute(
        "INSERT INTO backlog_job (state, queue, kind, max_attempts, scheduled_at, created_at) \
         VALUES ('available', ?1, 'k', 1, '2026-01-01T00:00:00.000000Z', \
         '2026-01-01T00:00:00.000000Z')",
        [queue],
    )
    .unwrap();
}

/// The next event (within 5 s).
async fn next_event(events: &mut tokio::sync::broadcast::Receiver<Event>) -> Event {
    tokio::time::timeout(Duration::from_secs(5), events.recv())
        .await
        .expect("no event within 5 s")
        .unwrap()
}

/// The next `JobAvailable` event's queue (within 5 s).
async fn next_queue(events: &mut tokio::sync::broadcast::Receiver<Event>) -> String {
    match next_event(events).await {
        Event::JobAvailable { queue } => queue,
        other => panic!("unexpected event {other:?}"),
    }
}

#[tokio::test]
async fn an_insert_by_another_process_wakes_a_subscriber() {
    let storage = test_storage().await.unwrap();
    // The watcher has taken its first look when this returns: what comes after is news.
    let mut events = storage.event_subscribe().await.unwrap();
    storage
        .job_insert_many(JobInsertManyParams {
            jobs: vec![JobInsert::new("own", "k", serde_json::json!({}))],
        })
        .await
        .unwrap();
    assert_eq!(next_queue(&mut events).await, "own");

    insert_from_another_process(storage.path(), "foreign");
    // This process's own insert is not taken for another's: had the watcher reported it, it
    // would have come first (it reads ids in order, and its looks come in order).
    assert_eq!(next_queue(&mut events).await, "foreign");

    // Inserts of this process between two of another's are skipped, not the other's.
    storage
        .job_insert_many(JobInsertManyParams {
            jobs: vec![JobInsert::new("own", "k", serde_json::json!({})); 3],
        })
        .await
        .unwrap();
    insert_from_another_process(storage.path(), "foreign_2");
    assert_eq!(next_queue(&mut events).await, "own");
    assert_eq!(next_queue(&mut events).await, "foreign_2");
    storage.close().await.unwrap();
}

#[tokio::test]
async fn a_transactional_enqueue_wakes_again_once_committed() {
    let storage = test_storage().await.unwrap();
    let mut events = storage.event_subscribe().await.unwrap();
    let mut conn = rusqlite::Connection::open(storage.path()).unwrap();
    conn.busy_timeout(Duration::from_secs(5)).unwrap();
    let tx = conn.transaction().unwrap();
    storage
        .job_insert_many_tx(
            &tx,
            JobInsertManyParams {
                jobs: vec![JobInsert::new("tx", "k", serde_json::json!({}))],
            },
        )
        .unwrap();
    // At once, before the commit: the job is not visible yet.
    assert_eq!(next_queue(&mut events).await, "tx");
    tx.commit().unwrap();
    // Once the commit lands, the watcher sees the job.
    assert_eq!(next_queue(&mut events).await, "tx");
    storage.close().await.unwrap();
}

#[tokio::test]
async fn the_first_storage_opened_on_a_file_decides_whether_it_is_watched() {
    let storage = test_storage().await.unwrap();
    let quiet = SqliteStorage::open(
        storage.path(),
        backlog_sqlite::SqliteConfig {
            cross_process_wakeups: None,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    // The first storage watches, so this one's subscribers are woken too.
    let mut events = quiet.event_subscribe().await.unwrap();
    insert_from_another_process(storage.path(), "a");
    insert_from_another_process(storage.path(), "b");
    assert_eq!(next_queue(&mut events).await, "a");
    assert_eq!(next_queue(&mut events).await, "b");
    drop(events);
    quiet.close().await.unwrap();
    storage.close().await.unwrap();
}

#[tokio::test]
async fn the_watcher_follows_ids_that_start_again_after_truncate_all() {
    let storage = test_storage().await.unwrap();
    let mut events = storage.event_subscribe().await.unwrap();
    insert_from_another_process(storage.path(), "before");
    assert_eq!(next_queue(&mut events).await, "before");
    // Emptied with its id counter: the next job takes id 1 again, not beyond the last seen.
    storage.truncate_all().await.unwrap();
    insert_from_another_process(storage.path(), "after");
    assert_eq!(next_queue(&mut events).await, "after");
    storage.close().await.unwrap();
}

#[tokio::test]
async fn a_subscriber_before_the_migration_is_woken_for_the_first_jobs() {
    let dir = std::env::temp_dir().join(format!("backlog-notify-{:016x}", fastrand::u64(..)));
    let storage = SqliteStorage::open(dir.join("jobs.db"), Default::default())
        .await
        .unwrap();
    // No job table yet: the watcher's first look counts it as empty.
    let mut events = storage.event_subscribe().await.unwrap();
    storage
        .migration_run(backlog_storage::MigrationRunParams {
            direction: backlog_storage::MigrationDirection::Up,
            target: None,
        })
        .await
        .unwrap();
    insert_from_another_process(storage.path(), "first");
    assert_eq!(next_queue(&mut events).await, "first");
    storage.close().await.unwrap();
    std::fs::remove_dir_all(dir).unwrap();
}

/// Writes a signal as a storage of another process does (`sql/event_insert.sql`, with an origin
/// that is not this process's), in a transaction of its own.
fn signal_from_another_process(path: &std::path::Path, kind: &str, subject: &str) {
    let conn = rusqlite::Connection::open(path).unwrap();
    conn.busy_timeout(Duration::from_secs(5)).unwrap();
    conn.execute(
        "INSERT INTO backlog_event (origin, kind, subject) VALUES (0, ?1, ?2)",
        [kind, subject],
    )
    .unwrap();
}

#[tokio::test]
async fn signals_of_another_process_reach_subscribers() {
    let storage = test_storage().await.unwrap();
    let mut events = storage.event_subscribe().await.unwrap();
    let signals = [
        ("available", "promoted"),
        ("cancel", "4,7"),
        ("resumed", "mail"),
        ("leader_resigned", "maintenance"),
        ("cron_changed", ""),
    ];
    for (kind, subject) in signals {
        signal_from_another_process(storage.path(), kind, subject);
    }
    assert_eq!(
        next_event(&mut events).await,
        Event::JobAvailable {
            queue: "promoted".into()
        }
    );
    assert_eq!(
        next_event(&mut events).await,
        Event::CancelRequested { ids: vec![4, 7] }
    );
    assert_eq!(
        next_event(&mut events).await,
        Event::QueueResumed {
            queue: "mail".into()
        }
    );
    assert_eq!(
        next_event(&mut events).await,
        Event::LeaderResigned {
            name: "maintenance".into()
        }
    );
    assert_eq!(next_event(&mut events).await, Event::CronChanged);
    storage.close().await.unwrap();
}

/// Pauses and resumes the queue `mail` through `storage`, and checks that its subscriber
/// `events` heard of the resumption.
async fn pause_and_resume_mail(
    storage: &SqliteStorage,
    events: &mut tokio::sync::broadcast::Receiver<Event>,
) {
    let queue = backlog_storage::QueuePauseParams {
        queue: "mail".into(),
        now: None,
    };
    storage.queue_pause(queue.clone()).await.unwrap();
    assert!(storage.queue_resume(queue).await.unwrap());
    assert_eq!(
        next_event(events).await,
        Event::QueueResumed {
            queue: "mail".into()
        }
    );
}

#[tokio::test]
async fn this_process_signals_wake_its_subscribers_once_and_are_written_for_others() {
    let storage = test_storage().await.unwrap();
    let mut events = storage.event_subscribe().await.unwrap();
    pause_and_resume_mail(&storage, &mut events).await;
    signal_from_another_process(storage.path(), "cron_changed", "");
    // Had the watcher sent this process's own signal again, it would have come first.
    assert_eq!(next_event(&mut events).await, Event::CronChanged);
    // The signal is in the file, for the watchers of other processes.
    let conn = rusqlite::Connection::open(storage.path()).unwrap();
    let written: i64 = conn
        .query_row(
            "SELECT count(*) FROM backlog_event WHERE kind = 'resumed' AND subject = 'mail'",
            [],
            |row| row.get(0),
        )
        .unwrap();
    assert_eq!(written, 1);
    storage.close().await.unwrap();
}

#[tokio::test]
async fn a_watcher_that_missed_signals_asks_for_a_resync() {
    let storage = test_storage().await.unwrap();
    let mut events = storage.event_subscribe().await.unwrap();
    signal_from_another_process(storage.path(), "cron_changed", "");
    assert_eq!(next_event(&mut events).await, Event::CronChanged);
    // Two signals, the first dropped before the watcher could read it, in one transaction so
    // that no look falls between (as when writers pruned past a watcher that fell behind).
    let conn = rusqlite::Connection::open(storage.path()).unwrap();
    conn.execute_batch(
        "BEGIN;
         INSERT INTO backlog_event (origin, kind, subject) VALUES (0, 'resumed', 'a');
         INSERT INTO backlog_event (origin, kind, subject) VALUES (0, 'resumed', 'b');
         DELETE FROM backlog_event WHERE subject = 'a';
         COMMIT;",
    )
    .unwrap();
    assert_eq!(
        next_event(&mut events).await,
        Event::QueueResumed { queue: "b".into() }
    );
    assert_eq!(next_event(&mut events).await, Event::Resync);
    storage.close().await.unwrap();
}

#[tokio::test]
async fn changes_go_through_on_a_file_not_migrated_for_signals_yet() {
    let storage = test_storage().await.unwrap();
    // Version 16 added the signals' table: a new build on a file one migration behind.
    storage
        .migration_run(backlog_storage::MigrationRunParams {
            direction: backlog_storage::MigrationDirection::Down,
            target: Some(14),
        })
        .await
        .unwrap();
    let mut events = storage.event_subscribe().await.unwrap();
    // This process's subscribers still hear of it; other processes will at their polls.
    pause_and_resume_mail(&storage, &mut events).await;
    let info = storage.queue_get("mail").await.unwrap().unwrap();
    assert!(info.paused_at.is_none());
    storage.close().await.unwrap();
}
