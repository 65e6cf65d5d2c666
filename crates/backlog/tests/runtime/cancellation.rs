//! Cancellation and unique jobs through the client and the runtime, on both backends.

use std::time::{Duration, Instant};

use backlog::storage::{JobFetchAvailableParams, JobFinish, JobFinishManyParams, JobOutcome};
use backlog::{
    CancelError, Client, InsertOpts, Job, JobArgs, JobError, JobState, Runner, UniqueOpts, Worker,
    Workers,
};
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

use crate::support::{wait_for, Db};

macro_rules! cases {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(crate::support::sqlite().await).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(crate::support::postgres().await).await;
                }
            )*
        }
    };
}

cases!(
    cancelling_a_running_job_reaches_its_code,
    sixteen_producers_one_unique_job,
    unschedule_returns_args_and_checks_kind,
    cancel_and_complete_race_has_one_winner,
);

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Sleepy {
    n: u32,
}

impl JobArgs for Sleepy {
    const KIND: &'static str = "sleepy";
}

#[derive(Debug, Serialize, Deserialize)]
struct Other;

impl JobArgs for Other {
    const KIND: &'static str = "other";
}

/// Waits for cancellation and reports when it saw it.
struct Listener {
    started: mpsc::UnboundedSender<i64>,
    saw_cancel: mpsc::UnboundedSender<Instant>,
}

impl Worker for Listener {
    type Args = Sleepy;
    async fn work(&self, job: Job<Sleepy>) -> Result<(), JobError> {
        let _ = self.started.send(job.id);
        tokio::select! {
            _ = job.cancelled() => {
                let _ = self.saw_cancel.send(Instant::now());
                Err(JobError::retry("stopping on request"))
            }
            _ = tokio::time::sleep(Duration::from_secs(60)) => Ok(()),
        }
    }
}

async fn cancelling_a_running_job_reaches_its_code(db: Db) {
    let client = Client::from_arc(db.clone());
    let (started, mut started_rx) = mpsc::unbounded_channel();
    let (saw_cancel, mut saw_rx) = mpsc::unbounded_channel();
    let runner = Runner::builder(
        db.clone(),
        Workers::new().register(Listener {
            started,
            saw_cancel,
        }),
    )
    .queue("default", 2)
    .start()
    .unwrap();
    let mut events = runner.subscribe();
    let id = client.enqueue(Sleepy { n: 1 }).await.unwrap();
    assert_eq!(started_rx.recv().await, Some(id));
    let asked = Instant::now();
    client.job_cancel(id).await.unwrap();
    let saw = tokio::time::timeout(Duration::from_secs(5), saw_rx.recv())
        .await
        .expect("job saw the cancellation")
        .unwrap();
    assert!(
        saw - asked < Duration::from_secs(1),
        "took {:?}",
        saw - asked
    );
    let event = wait_for(&mut events, id, JobState::Cancelled).await;
    assert!(event.error.unwrap().contains("stopping on request"));
    runner.shutdown(Duration::from_secs(5)).await;
    assert_eq!(
        db.job_get(id).await.unwrap().unwrap().state,
        JobState::Cancelled
    );
}

async fn sixteen_producers_one_unique_job(db: Db) {
    let client = Client::from_arc(db.clone());
    let tasks: Vec<_> = (0..16)
        .map(|_| {
            let client = client.clone();
            tokio::spawn(async move {
                client
                    .enqueue_unique(
                        Sleepy { n: 7 },
                        InsertOpts::new().unique(UniqueOpts::default()),
                    )
                    .await
                    .unwrap()
            })
        })
        .collect();
    let mut outcomes = Vec::new();
    for task in tasks {
        outcomes.push(task.await.unwrap());
    }
    let fresh: Vec<_> = outcomes.iter().filter(|o| !o.duplicate).collect();
    assert_eq!(fresh.len(), 1, "{outcomes:?}");
    assert!(outcomes.iter().all(|o| o.id == fresh[0].id));
    let all = db.job_list(Default::default()).await.unwrap();
    assert_eq!(all.len(), 1);
}

async fn unschedule_returns_args_and_checks_kind(db: Db) {
    let client = Client::from_arc(db.clone());
    let id = client.enqueue(Sleepy { n: 42 }).await.unwrap();
    match client.job_unschedule::<Other>(id).await {
        Err(CancelError::WrongKind {
            expected, actual, ..
        }) => {
            assert_eq!((expected.as_str(), actual.as_str()), ("other", "sleepy"));
        }
        other => panic!("expected WrongKind, got {other:?}"),
    }
    assert_eq!(
        db.job_get(id).await.unwrap().unwrap().state,
        JobState::Available
    );
    let args: Sleepy = client.job_unschedule(id).await.unwrap();
    assert_eq!(args, Sleepy { n: 42 });
    assert_eq!(
        db.job_get(id).await.unwrap().unwrap().state,
        JobState::Cancelled
    );
    assert!(matches!(
        client.job_unschedule::<Sleepy>(id).await,
        Err(CancelError::AlreadyFinished {
            state: JobState::Cancelled,
            ..
        })
    ));
    assert!(matches!(
        client.job_unschedule::<Sleepy>(id + 100).await,
        Err(CancelError::NotFound(_))
    ));
}

/// A user cancelling a running job while its worker records an outcome: the job ends in exactly
/// one final state, and a worker honouring the request records `cancelled` only if it still
/// holds the job.
async fn cancel_and_complete_race_has_one_winner(db: Db) {
    let client = Client::from_arc(db.clone());
    for round in 0..10 {
        let id = client.enqueue(Sleepy { n: round }).await.unwrap();
        let fetched = db
            .job_fetch_available(JobFetchAvailableParams {
                queue: "default".into(),
                max: 1,
                worker_id: "w".into(),
                lease: Duration::from_secs(60),
                now: None,
                kinds: Vec::new(),
            })
            .await
            .unwrap();
        assert_eq!(fetched[0].id, id);
        let lease_token = fetched[0].lease_token.expect("claimed");
        let finish = |outcome| JobFinishManyParams {
            jobs: vec![JobFinish {
                id,
                lease_token,
                outcome,
                duration: Duration::ZERO,
                result: None,
            }],
        };
        let (a, b, c) = tokio::join!(
            db.job_finish_many(finish(JobOutcome::Completed)),
            client.job_cancel(id),
            db.job_finish_many(finish(JobOutcome::Cancel {
                failure: backlog::storage::Failure::error("cancelled")
            })),
        );
        // Both writes come from the same execution: one applies, the other is reported as
        // already applied (its outcome is recorded) without being applied a second time.
        assert_eq!(a.unwrap(), vec![id]);
        assert_eq!(c.unwrap(), vec![id]);
        let row = db.job_get(id).await.unwrap().unwrap();
        assert_eq!(
            row.attempt_durations_us.len(),
            1,
            "exactly one outcome applied"
        );
        assert!(matches!(
            row.state,
            JobState::Completed | JobState::Cancelled
        ));
        match b {
            Ok(()) => assert!(row.cancel_requested_at.is_some()),
            Err(CancelError::AlreadyFinished { state, .. }) => assert_eq!(state, row.state),
            Err(other) => panic!("{other}"),
        }
    }
}
