//! LISTEN/NOTIFY wake-ups: inserts and promotions wake subscribers; a lost listener connection
//! comes back and asks subscribers to resync.

use std::time::Duration;

use backlog_postgres::testing::{database_url, test_storage};
use backlog_postgres::{PgConfig, PgStorage};
use backlog_storage::{Event, JobInsert, JobInsertManyParams, JobScheduleParams, Storage};
use tokio::sync::broadcast;
use tokio::time::timeout;

const WAIT: Duration = Duration::from_secs(10);

async fn next(events: &mut broadcast::Receiver<Event>) -> Event {
    timeout(WAIT, events.recv())
        .await
        .expect("an event in time")
        .expect("the listener is running")
}

fn job(queue: &str) -> JobInsert {
    JobInsert::new(queue, "k", serde_json::json!({}))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn insert_and_schedule_wake_subscribers() {
    let storage = test_storage().await;
    let mut events = storage.event_subscribe().await.unwrap();

    // A future job wakes nobody; the available one inserted after it does, and arrives first.
    let mut later = job("later");
    later.scheduled_at = Some(chrono::Utc::now() + chrono::Duration::hours(1));
    storage
        .job_insert_many(JobInsertManyParams { jobs: vec![later] })
        .await
        .unwrap();
    storage
        .job_insert_many(JobInsertManyParams {
            jobs: vec![job("now"), job("now")],
        })
        .await
        .unwrap();
    assert_eq!(
        next(&mut events).await,
        Event::JobAvailable {
            queue: "now".into()
        }
    );

    // Promoting the scheduled job wakes its queue.
    storage
        .job_schedule(JobScheduleParams {
            now: Some(chrono::Utc::now() + chrono::Duration::hours(2)),
            max: 10,
        })
        .await
        .unwrap();
    assert_eq!(
        next(&mut events).await,
        Event::JobAvailable {
            queue: "later".into()
        }
    );
    assert!(events.try_recv().is_err(), "one event per queue");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscribers_share_one_listener_and_schemas_are_separate() {
    let storage = test_storage().await;
    let other = test_storage().await;
    let mut a = storage.event_subscribe().await.unwrap();
    let mut b = storage.event_subscribe().await.unwrap();
    let mut elsewhere = other.event_subscribe().await.unwrap();
    storage
        .job_insert_many(JobInsertManyParams {
            jobs: vec![job("q")],
        })
        .await
        .unwrap();
    let expected = Event::JobAvailable { queue: "q".into() };
    assert_eq!(next(&mut a).await, expected);
    assert_eq!(next(&mut b).await, expected);
    other
        .job_insert_many(JobInsertManyParams {
            jobs: vec![job("mine")],
        })
        .await
        .unwrap();
    assert_eq!(
        next(&mut elsewhere).await,
        Event::JobAvailable {
            queue: "mine".into()
        }
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconnects_and_resyncs_after_losing_its_connection() {
    let storage = test_storage().await;
    let mut events = storage.event_subscribe().await.unwrap();
    let client = storage.pool().get().await.unwrap();
    let listen = format!("LISTEN \"{}\"", storage.notify_channel());
    let killed = client
        .query(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query = $1",
            &[&listen],
        )
        .await
        .unwrap();
    assert_eq!(killed.len(), 1);
    assert_eq!(next(&mut events).await, Event::Resync);

    storage
        .job_insert_many(JobInsertManyParams {
            jobs: vec![job("back")],
        })
        .await
        .unwrap();
    assert_eq!(
        next(&mut events).await,
        Event::JobAvailable {
            queue: "back".into()
        }
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listener_stops_when_the_storage_is_dropped() {
    let storage = test_storage().await;
    let mut events = storage.event_subscribe().await.unwrap();
    let clone = storage.clone();
    drop(storage);
    // A clone keeps it alive.
    clone
        .job_insert_many(JobInsertManyParams {
            jobs: vec![job("q")],
        })
        .await
        .unwrap();
    assert_eq!(
        next(&mut events).await,
        Event::JobAvailable { queue: "q".into() }
    );
    drop(clone);
    let closed = timeout(WAIT, events.recv()).await.expect("closed in time");
    assert_eq!(closed, Err(broadcast::error::RecvError::Closed));
}

/// A storage dropped right after its insert still sends the wake-up: its wake-up task sends
/// what was queued before it ends. (It used to stop at once when the storage was dropped,
/// about half of the time before sending the last wake-up; seen in the fault suite as a job
/// that waited for a poll.) Ten rounds, each with a storage of its own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_storage_dropped_after_its_insert_still_wakes_the_workers() {
    let workers = test_storage().await;
    let mut events = workers.event_subscribe().await.unwrap();
    for round in 0..10 {
        let config = PgConfig {
            schema: workers.schema().to_owned(),
            max_connections: 2,
        };
        let producer = PgStorage::connect(&database_url(), config).await.unwrap();
        let queue = format!("q{round}");
        // Two jobs: inserted by this call itself, not by a gathering task that would keep the
        // storage alive a little longer (src/gather.rs).
        producer
            .job_insert_many(JobInsertManyParams {
                jobs: vec![job(&queue), job(&queue)],
            })
            .await
            .unwrap();
        drop(producer);
        assert_eq!(next(&mut events).await, Event::JobAvailable { queue });
    }
}

/// The wake-up sender's connection (with its prepared statement) is made again after it is
/// lost: a producer whose wake-up connection was terminated still wakes other processes'
/// workers. The wake-up in flight when the connection died may be lost (workers poll); the
/// next ones are sent on a new connection.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_wakeup_connection_comes_back_after_it_is_lost() {
    let workers = test_storage().await;
    let mut events = workers.event_subscribe().await.unwrap();
    let config = PgConfig {
        schema: workers.schema().to_owned(),
        max_connections: 2,
    };
    let producer = PgStorage::connect(&database_url(), config).await.unwrap();
    let insert = |queue: &str| {
        producer.job_insert_many(JobInsertManyParams {
            jobs: vec![job(queue), job(queue)],
        })
    };
    insert("first").await.unwrap();
    producer.flush_wakeups().await;
    assert_eq!(
        next(&mut events).await,
        Event::JobAvailable {
            queue: "first".into()
        }
    );
    // Cut the producer's wake-up connection.
    let pid = producer.wakeup_backend_pid();
    assert_ne!(pid, 0, "the wake-up connection is up");
    let admin = workers.pool().get().await.unwrap();
    let terminated: bool = admin
        .query_one("SELECT pg_terminate_backend($1)", &[&pid])
        .await
        .unwrap()
        .get(0);
    assert!(terminated);
    let mut woken = false;
    for round in 0..20 {
        let queue = format!("again{round}");
        insert(&queue).await.unwrap();
        producer.flush_wakeups().await;
        if let Ok(Ok(event)) = timeout(Duration::from_millis(500), events.recv()).await {
            assert!(matches!(event, Event::JobAvailable { .. }));
            woken = true;
            break;
        }
    }
    assert!(woken, "wake-ups resumed on a new connection");
}
