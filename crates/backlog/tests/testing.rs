//! The `backlog::testing` helpers and `Client::unfinished`, each test on both backends.

use std::sync::Arc;
use std::time::Duration;

use backlog::testing::{self, DrainConfig, Expected, Outcome};
use backlog::{Client, InsertOpts, Job, JobArgs, JobError, JobState, Storage, Worker, Workers};
use serde::{Deserialize, Serialize};
use serde_json::json;

type Db = Arc<dyn Storage>;

macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let storage = backlog::testing::sqlite_storage().await.expect("sqlite");
                    super::$name(storage).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let storage = backlog::testing::postgres_storage().await.expect("postgres");
                    super::$name(storage).await;
                }
            )*
        }
    };
}

on_both_backends!(
    drain_reports_each_outcome_and_stores_it,
    drain_runs_each_job_once_and_follows_enqueued_jobs,
    drain_with_scheduled_runs_future_jobs,
    assert_enqueued_matches_kind_args_and_queue,
    unfinished_counts_per_queue_and_state,
);

/// What the job should do.
#[derive(Serialize, Deserialize)]
struct Act {
    what: String,
}

impl JobArgs for Act {
    const KIND: &'static str = "act";
}

struct Actor {
    client: Option<Client>,
}

impl Worker for Actor {
    type Args = Act;

    async fn work(&self, job: Job<Act>) -> Result<(), JobError> {
        match job.args.what.as_str() {
            "ok" => {
                job.set_result(json!({"done": true}))?;
                Ok(())
            }
            "retry" => Err(JobError::retry("try later")),
            "snooze" => Err(JobError::snooze(Duration::from_secs(600))),
            "snooze-now" => Err(JobError::snooze(Duration::ZERO)),
            "discard" => Err(JobError::discard("hopeless")),
            "cancel" => Err(JobError::cancel("not wanted")),
            "panic" => panic!("boom"),
            "chain" => {
                let client = self.client.as_ref().expect("a client for chain");
                client.enqueue(Act { what: "ok".into() }).await?;
                Ok(())
            }
            other => Err(JobError::discard(format!("unknown act {other}"))),
        }
    }
}

fn workers(storage: &Db) -> Workers {
    Workers::new().register(Actor {
        client: Some(Client::from_arc(storage.clone())),
    })
}

async fn enqueue(client: &Client, what: &str) -> i64 {
    client
        .enqueue(Act { what: what.into() })
        .await
        .expect("enqueue")
}

async fn state(storage: &Db, id: i64) -> JobState {
    storage.job_get(id).await.expect("get").expect("job").state
}

async fn drain_reports_each_outcome_and_stores_it(storage: Db) {
    let client = Client::from_arc(storage.clone());
    let ok = enqueue(&client, "ok").await;
    let retry = enqueue(&client, "retry").await;
    let snooze = enqueue(&client, "snooze").await;
    let discard = enqueue(&client, "discard").await;
    let cancel = enqueue(&client, "cancel").await;
    let panics = enqueue(&client, "panic").await;

    let ran = testing::drain(&storage, &workers(&storage))
        .await
        .expect("drain");
    let by_id = |id: i64| {
        ran.iter()
            .find(|d| d.id == id)
            .unwrap_or_else(|| panic!("job {id} did not run: {ran:?}"))
    };
    assert_eq!(ran.len(), 6, "{ran:?}");
    assert_eq!(by_id(ok).outcome, Outcome::Completed);
    assert_eq!(by_id(ok).result, Some(json!({"done": true})));
    assert!(
        matches!(&by_id(retry).outcome, Outcome::Retry { error, .. } if error == "try later"),
        "{ran:?}"
    );
    assert_eq!(
        by_id(snooze).outcome,
        Outcome::Snoozed {
            delay: Duration::from_secs(600)
        }
    );
    assert_eq!(
        by_id(discard).outcome,
        Outcome::Discarded {
            error: "hopeless".into()
        }
    );
    assert_eq!(
        by_id(cancel).outcome,
        Outcome::Cancelled {
            error: "not wanted".into()
        }
    );
    assert!(
        matches!(&by_id(panics).outcome, Outcome::Retry { error, .. } if error.contains("boom")),
        "{ran:?}"
    );

    assert_eq!(state(&storage, ok).await, JobState::Completed);
    assert_eq!(state(&storage, retry).await, JobState::Retryable);
    assert_eq!(state(&storage, snooze).await, JobState::Scheduled);
    assert_eq!(state(&storage, discard).await, JobState::Discarded);
    assert_eq!(state(&storage, cancel).await, JobState::Cancelled);
    let stored = storage.job_get(ok).await.expect("get").expect("job");
    assert_eq!(stored.result, Some(json!({"done": true})));

    // Nothing is due any more.
    let again = testing::drain(&storage, &workers(&storage))
        .await
        .expect("drain");
    assert!(again.is_empty(), "{again:?}");
}

async fn drain_runs_each_job_once_and_follows_enqueued_jobs(storage: Db) {
    let client = Client::from_arc(storage.clone());
    let forever = enqueue(&client, "snooze-now").await;
    let chain = enqueue(&client, "chain").await;

    let all = DrainConfig::new().with_scheduled(true);
    let ran = testing::drain_with(&storage, &workers(&storage), all.clone())
        .await
        .expect("drain");
    // The job that snoozes with no delay ran once, not forever (it was due again at once);
    // the job enqueued by `chain` ran too.
    assert_eq!(ran.iter().filter(|d| d.id == forever).count(), 1, "{ran:?}");
    assert_eq!(ran.len(), 3, "{ran:?}");
    assert!(ran
        .iter()
        .any(|d| d.id == chain && d.outcome == Outcome::Completed));
    assert!(ran
        .iter()
        .any(|d| d.id != chain && d.id != forever && d.outcome == Outcome::Completed));
    // Left unfinished for a later call (with `with_scheduled`, the last scheduling pass may
    // have made it available already).
    assert!(!state(&storage, forever).await.is_finalized());

    // The next call runs it again, once.
    let ran = testing::drain_with(&storage, &workers(&storage), all)
        .await
        .expect("drain");
    assert_eq!(ran.len(), 1, "{ran:?}");
    assert_eq!(ran[0].id, forever);
    assert_eq!(
        ran[0].outcome,
        Outcome::Snoozed {
            delay: Duration::ZERO
        }
    );

    // max_jobs bounds a call; the rest is left for later, unrun.
    for _ in 0..3 {
        client
            .enqueue_with(Act { what: "ok".into() }, InsertOpts::new().queue("bulk"))
            .await
            .expect("enqueue");
    }
    let ran = testing::drain_with(
        &storage,
        &workers(&storage),
        DrainConfig::new().queue("bulk").max_jobs(2),
    )
    .await
    .expect("drain");
    assert_eq!(ran.len(), 2, "{ran:?}");
    assert_eq!(
        client.unfinished().await.expect("unfinished").queue("bulk"),
        1
    );
}

async fn drain_with_scheduled_runs_future_jobs(storage: Db) {
    let client = Client::from_arc(storage.clone());
    let later = client
        .enqueue_with(
            Act { what: "ok".into() },
            InsertOpts::new().run_after(Duration::from_secs(3600)),
        )
        .await
        .expect("enqueue");
    let other_queue = client
        .enqueue_with(Act { what: "ok".into() }, InsertOpts::new().queue("other"))
        .await
        .expect("enqueue");

    let ran = testing::drain_with(
        &storage,
        &workers(&storage),
        DrainConfig::new().queue("default"),
    )
    .await
    .expect("drain");
    assert!(ran.is_empty(), "{ran:?}");
    assert_eq!(state(&storage, later).await, JobState::Scheduled);
    assert_eq!(state(&storage, other_queue).await, JobState::Available);

    let ran = testing::drain_with(
        &storage,
        &workers(&storage),
        DrainConfig::new().with_scheduled(true),
    )
    .await
    .expect("drain");
    assert_eq!(ran.len(), 2, "{ran:?}");
    assert_eq!(state(&storage, later).await, JobState::Completed);
    assert_eq!(state(&storage, other_queue).await, JobState::Completed);
}

async fn assert_enqueued_matches_kind_args_and_queue(storage: Db) {
    let client = Client::from_arc(storage.clone());
    testing::assert_not_enqueued(&*storage, Expected::<Act>::new()).await;
    client
        .enqueue_with(Act { what: "ok".into() }, InsertOpts::new().queue("mail"))
        .await
        .expect("enqueue");

    let found = testing::assert_enqueued(&*storage, Expected::<Act>::new()).await;
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].args, json!({"what": "ok"}));
    testing::assert_enqueued(
        &*storage,
        Expected::<Act>::new()
            .args(json!({"what": "ok"}))
            .queue("mail"),
    )
    .await;
    testing::assert_not_enqueued(&*storage, Expected::<Act>::new().queue("default")).await;
    testing::assert_not_enqueued(
        &*storage,
        Expected::<Act>::new().args(json!({"what": "no"})),
    )
    .await;

    // A mismatch panics with what was enqueued.
    let storage2 = storage.clone();
    let panic = tokio::spawn(async move {
        testing::assert_enqueued(
            &*storage2,
            Expected::<Act>::new().args(json!({"what": "x"})),
        )
        .await;
    })
    .await
    .expect_err("assert_enqueued should panic");
    let message = panic.into_panic();
    let message = message
        .downcast_ref::<String>()
        .expect("a formatted panic message");
    assert!(message.contains(r#"{"what":"ok"}"#), "{message}");

    // Finished jobs no longer count.
    testing::drain(&storage, &workers(&storage))
        .await
        .expect("drain");
    testing::assert_not_enqueued(&*storage, Expected::<Act>::new()).await;
}

async fn unfinished_counts_per_queue_and_state(storage: Db) {
    let client = Client::from_arc(storage.clone());
    assert!(client.unfinished().await.expect("unfinished").is_empty());
    enqueue(&client, "ok").await;
    enqueue(&client, "retry").await;
    client
        .enqueue_with(
            Act { what: "ok".into() },
            InsertOpts::new()
                .queue("later")
                .run_after(Duration::from_secs(3600)),
        )
        .await
        .expect("enqueue");

    let unfinished = client.unfinished().await.expect("unfinished");
    assert_eq!(unfinished.total, 3);
    assert_eq!(unfinished.queue("default"), 2);
    assert_eq!(unfinished.queue("later"), 1);
    assert_eq!(unfinished.queue("nope"), 0);
    assert_eq!(unfinished.by_state.get(&JobState::Available), Some(&2));
    assert_eq!(unfinished.by_state.get(&JobState::Scheduled), Some(&1));

    testing::drain(&storage, &workers(&storage))
        .await
        .expect("drain");
    let unfinished = client.unfinished().await.expect("unfinished");
    // `ok` completed (gone from the counts), `retry` waits for its retry.
    assert_eq!(unfinished.total, 2);
    assert_eq!(unfinished.queue("default"), 1);
    assert_eq!(unfinished.by_state.get(&JobState::Retryable), Some(&1));
    assert_eq!(unfinished.by_state.get(&JobState::Available), None);
}

#[tokio::test]
async fn a_hand_built_job_runs_through_work() {
    let job = testing::job(Act {
        what: "discard".into(),
    });
    assert_eq!(job.attempt, 1);
    assert_eq!(job.queue, "default");
    let error = Actor { client: None }
        .work(job)
        .await
        .expect_err("discards");
    assert_eq!(error.message(), "hopeless");

    // Results need a runner.
    let job = testing::job(Act { what: "ok".into() });
    assert!(Actor { client: None }.work(job).await.is_err());

    let job = testing::cancelled_job(Act { what: "ok".into() });
    assert!(job.is_cancelled());
    job.cancelled().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn assert_enqueued_sees_an_uncommitted_sqlite_transaction() {
    let sqlite = backlog::testing::sqlite::test_storage()
        .await
        .expect("sqlite");
    let client = backlog::SqliteClient::new(sqlite.clone());
    let path = sqlite.path().to_owned();
    let mut conn = rusqlite::Connection::open(path).expect("open");
    let tx = conn.transaction().expect("tx");
    client
        .enqueue_tx(&tx, Act { what: "ok".into() }, InsertOpts::new())
        .expect("enqueue");
    let found =
        testing::assert_enqueued_sqlite_tx(&tx, Expected::<Act>::new().args(json!({"what": "ok"})));
    assert_eq!(found.len(), 1);
    // Not committed: other connections do not see it yet.
    testing::assert_not_enqueued(&*client.storage().clone(), Expected::<Act>::new()).await;
    tx.commit().expect("commit");
    testing::assert_enqueued(&**client.storage(), Expected::<Act>::new()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn assert_enqueued_sees_an_uncommitted_postgres_transaction() {
    let pg = backlog::testing::postgres::test_storage().await;
    let client = backlog::PgClient::new(pg.clone());
    let mut conn = pg.pool().get().await.expect("connection");
    let tx = conn.transaction().await.expect("tx");
    client
        .enqueue_tx(
            &*tx,
            Act { what: "ok".into() },
            InsertOpts::new().queue("q"),
        )
        .await
        .expect("enqueue");
    let found = testing::assert_enqueued_pg_tx(&*tx, &pg, Expected::<Act>::new().queue("q")).await;
    assert_eq!(found.len(), 1);
    testing::assert_not_enqueued(&**client.storage(), Expected::<Act>::new()).await;
    tx.commit().await.expect("commit");
    testing::assert_enqueued(&**client.storage(), Expected::<Act>::new()).await;
}
