//! `event_subscribe`: wake-ups on new available jobs.

use std::time::Duration;

use backlog_storage::{Event, JobScheduleParams};
use chrono::Utc;
use tokio::sync::broadcast::Receiver;

use crate::support::{insert, insert_one, job, Db};

pub(crate) async fn next_available(rx: &mut Receiver<Event>) -> String {
    let wait = async {
        loop {
            match rx.recv().await {
                Ok(Event::JobAvailable { queue }) => return queue,
                Ok(_) => continue,
                Err(e) => panic!("subscription failed: {e}"),
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(10), wait)
        .await
        .expect("no wake-up within 10 s")
}

/// Inserting available jobs wakes subscribers with the queue's name; scheduled ones do not.
pub async fn insert_wakes_subscribers(db: Db) {
    let mut rx = db.event_subscribe().await.unwrap();
    let mut later = job("later", "k");
    later.scheduled_at = Some(Utc::now() + chrono::Duration::hours(1));
    insert_one(&db, later).await;
    insert(&db, vec![job("emails", "k"), job("emails", "k")]).await;
    assert_eq!(next_available(&mut rx).await, "emails");
}

/// Promoting scheduled jobs wakes subscribers too.
pub async fn schedule_wakes_subscribers(db: Db) {
    let at = Utc::now() + chrono::Duration::hours(1);
    let mut later = job("promoted", "k");
    later.scheduled_at = Some(at);
    insert_one(&db, later).await;
    let mut rx = db.event_subscribe().await.unwrap();
    db.job_schedule(JobScheduleParams {
        now: Some(at),
        max: 10,
    })
    .await
    .unwrap();
    assert_eq!(next_available(&mut rx).await, "promoted");
}
