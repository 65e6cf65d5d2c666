//! Workflows: dependants wait for their dependencies, are released or cancelled in the
//! transaction that finalizes the dependency, and the workflow can be inspected and retried.

use std::collections::BTreeMap;

use backlog_storage::{
    waiting_for_dependencies, DependencyFailure, ErrorKind, Failure, JobOutcome,
    WorkflowDependency, WorkflowInsertParams, WorkflowInsertResult, WorkflowListParams,
};
use backlog_types::{JobId, JobState};
use serde_json::json;

use crate::events::next_available;
use crate::support::{fetch, finalize, get, job, Db};

fn edge(job: usize, depends_on: usize) -> WorkflowDependency {
    WorkflowDependency {
        job,
        depends_on,
        on_failure: DependencyFailure::Cancel,
    }
}

fn workflow(queues: &[&str], edges: Vec<WorkflowDependency>) -> WorkflowInsertParams {
    WorkflowInsertParams {
        name: "nightly".to_owned(),
        jobs: queues.iter().map(|q| job(q, "step")).collect(),
        dependencies: edges,
        idempotency_key: None,
    }
}

async fn insert(db: &Db, params: WorkflowInsertParams) -> WorkflowInsertResult {
    db.workflow_insert(params).await.expect("workflow insert")
}

fn discard() -> JobOutcome {
    JobOutcome::Discard {
        failure: Failure::error("boom"),
    }
}

/// Runs every available job of `queue` to `outcome`; returns their ids, ascending.
async fn run(db: &Db, queue: &str, outcome: JobOutcome) -> Vec<JobId> {
    let rows = fetch(db, queue, 10_000).await;
    finalize(db, &rows, vec![outcome; rows.len()]).await;
    let mut ids: Vec<JobId> = rows.iter().map(|r| r.id).collect();
    ids.sort_unstable();
    ids
}

/// A diamond (a → b, c → d): each job becomes available only once all its dependencies
/// completed, and d reads b's and c's results.
pub async fn dependants_wait_for_their_dependencies(db: Db) {
    let wf = insert(
        &db,
        workflow(
            &["q"; 4],
            vec![edge(1, 0), edge(2, 0), edge(3, 1), edge(3, 2)],
        ),
    )
    .await;
    let [a, b, c, d] = wf.job_ids[..] else {
        panic!("four ids expected, got {:?}", wf.job_ids)
    };
    let waiting = get(&db, d).await;
    assert_eq!(waiting.state, JobState::Scheduled);
    assert_eq!(waiting.scheduled_at, waiting_for_dependencies());
    assert_eq!(run(&db, "q", JobOutcome::Completed).await, vec![a]);
    let rows = fetch(&db, "q", 10).await;
    let mut claimed: Vec<JobId> = rows.iter().map(|r| r.id).collect();
    claimed.sort_unstable();
    assert_eq!(
        claimed,
        vec![b, c],
        "b and c are released by a's completion"
    );
    let (rb, rc) = if rows[0].id == b {
        (&rows[0], &rows[1])
    } else {
        (&rows[1], &rows[0])
    };
    let finish = |row: &backlog_types::JobRow, result| backlog_storage::JobFinish {
        id: row.id,
        lease_token: row.lease_token.expect("claimed"),
        outcome: JobOutcome::Completed,
        duration: std::time::Duration::ZERO,
        result: Some(result),
    };
    db.job_finish_many(backlog_storage::JobFinishManyParams {
        jobs: vec![finish(rb, json!({"rows": 1}))],
    })
    .await
    .unwrap();
    assert_eq!(get(&db, d).await.state, JobState::Scheduled, "c still runs");
    db.job_finish_many(backlog_storage::JobFinishManyParams {
        jobs: vec![finish(rc, json!({"rows": 2}))],
    })
    .await
    .unwrap();
    let released = get(&db, d).await;
    assert_eq!(released.state, JobState::Available);
    assert!(released.scheduled_at < waiting_for_dependencies());
    let results = db.job_dependency_results(d).await.unwrap();
    let results: Vec<(JobId, JobState, Option<serde_json::Value>)> = results
        .into_iter()
        .map(|r| (r.id, r.state, r.result))
        .collect();
    assert_eq!(
        results,
        vec![
            (b, JobState::Completed, Some(json!({"rows": 1}))),
            (c, JobState::Completed, Some(json!({"rows": 2}))),
        ]
    );
    assert_eq!(run(&db, "q", JobOutcome::Completed).await, vec![d]);
    let row = db.workflow_get(wf.id).await.unwrap().expect("workflow");
    assert_eq!(row.states, vec![(JobState::Completed, 4)]);
    // A job retry never releases a job that still waits for its dependencies.
    let wf = insert(&db, workflow(&["q"; 2], vec![edge(1, 0)])).await;
    let retried = db
        .job_retry_by_filter(backlog_storage::JobFilter {
            ids: wf.job_ids.clone(),
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(retried.is_empty(), "{retried:?}");
    // Nor does the scheduler, whatever the time.
    db.job_schedule(backlog_storage::JobScheduleParams {
        now: Some(waiting_for_dependencies()),
        max: 100,
    })
    .await
    .unwrap();
    assert_eq!(get(&db, wf.job_ids[1]).await.state, JobState::Scheduled);
    assert!(row.is_finished());
}

/// A cycle, an edge to a missing job or a keyed job is refused and nothing is stored.
pub async fn invalid_workflows_store_nothing(db: Db) {
    for params in [
        workflow(&["q"; 3], vec![edge(1, 0), edge(2, 1), edge(1, 2)]),
        workflow(&["q"; 2], vec![edge(1, 7)]),
        workflow(&[], vec![]),
    ] {
        let err = db.workflow_insert(params).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput, "{err}");
    }
    assert!(db.job_list(Default::default()).await.unwrap().is_empty());
    assert!(db
        .workflow_list(WorkflowListParams::default())
        .await
        .unwrap()
        .is_empty());
}

/// A discarded dependency cancels its dependants down the graph (policy cancel) and lets the
/// ones with policy run go ahead.
pub async fn failure_cancels_or_runs_dependants(db: Db) {
    let mut edges = vec![edge(1, 0), edge(2, 1), edge(3, 0)];
    edges[2].on_failure = DependencyFailure::Run;
    let wf = insert(&db, workflow(&["q"; 4], edges)).await;
    let [a, b, c, d] = wf.job_ids[..] else {
        panic!("four ids")
    };
    assert_eq!(run(&db, "q", discard()).await, vec![a]);
    for id in [b, c] {
        let row = get(&db, id).await;
        assert_eq!(row.state, JobState::Cancelled, "job {id}");
        assert!(row.finalized_at.is_some());
        assert!(row
            .errors
            .last()
            .expect("a reason")
            .message
            .contains("dependency"));
    }
    assert_eq!(get(&db, d).await.state, JobState::Available);
    let row = db.workflow_get(wf.id).await.unwrap().unwrap();
    assert_eq!(
        row.states,
        vec![
            (JobState::Available, 1),
            (JobState::Cancelled, 2),
            (JobState::Discarded, 1)
        ]
    );
}

/// A released dependant wakes subscribers of its queue, like an insert.
pub async fn release_wakes_subscribers(db: Db) {
    insert(&db, workflow(&["first", "second"], vec![edge(1, 0)])).await;
    let mut rx = db.event_subscribe().await.unwrap();
    run(&db, "first", JobOutcome::Completed).await;
    loop {
        if next_available(&mut rx).await == "second" {
            break;
        }
    }
}

/// The last two dependencies of a job finishing at the same moment on two connections release
/// it exactly once, never leave it waiting.
pub async fn concurrent_last_dependencies_release_once(db: Db) {
    for round in 0..8 {
        let wf = insert(&db, workflow(&["q"; 3], vec![edge(2, 0), edge(2, 1)])).await;
        let rows = fetch(&db, "q", 2).await;
        assert_eq!(rows.len(), 2, "round {round}");
        let (one, two) = (db.clone(), db.clone());
        let (r1, r2) = (rows[0].clone(), rows[1].clone());
        let first = tokio::spawn(async move {
            finalize(&one, &[r1], vec![JobOutcome::Completed]).await;
        });
        let second = tokio::spawn(async move {
            finalize(&two, &[r2], vec![JobOutcome::Completed]).await;
        });
        first.await.unwrap();
        second.await.unwrap();
        let sink = get(&db, wf.job_ids[2]).await;
        assert_eq!(sink.state, JobState::Available, "round {round}");
        assert_eq!(
            run(&db, "q", JobOutcome::Completed).await,
            vec![wf.job_ids[2]]
        );
    }
}

/// Listing, inspecting each job, and retrying a failed workflow as a whole.
pub async fn list_inspect_and_retry(db: Db) {
    let older = insert(&db, workflow(&["other"], vec![])).await;
    let wf = insert(&db, workflow(&["q"; 3], vec![edge(1, 0), edge(2, 1)])).await;
    let [a, b, c] = wf.job_ids[..] else {
        panic!("three ids")
    };
    let listed = db
        .workflow_list(WorkflowListParams::default())
        .await
        .unwrap();
    assert_eq!(
        listed.iter().map(|w| w.id).collect::<Vec<_>>(),
        vec![wf.id, older.id]
    );
    assert_eq!(listed[0].waiting, 2);
    let page = db
        .workflow_list(WorkflowListParams {
            before_id: Some(wf.id),
            limit: 10,
        })
        .await
        .unwrap();
    assert_eq!(page.len(), 1);
    let jobs = db.workflow_jobs(wf.id).await.unwrap();
    let graph: BTreeMap<JobId, (Vec<JobId>, i32)> = jobs
        .iter()
        .map(|j| (j.job.id, (j.depends_on.clone(), j.deps_left)))
        .collect();
    assert_eq!(graph[&a], (vec![], 0));
    assert_eq!(graph[&b], (vec![a], 1));
    assert_eq!(graph[&c], (vec![b], 1));

    run(&db, "q", discard()).await;
    assert_eq!(get(&db, c).await.state, JobState::Cancelled);
    assert_eq!(db.workflow_retry(wf.id).await.unwrap(), vec![a, b, c]);
    assert_eq!(get(&db, a).await.state, JobState::Available);
    for id in [b, c] {
        let row = get(&db, id).await;
        assert_eq!(row.state, JobState::Scheduled, "job {id} waits again");
        assert!(row.finalized_at.is_none());
    }
    assert_eq!(run(&db, "q", JobOutcome::Completed).await, vec![a]);
    assert_eq!(run(&db, "q", JobOutcome::Completed).await, vec![b]);
    assert_eq!(run(&db, "q", JobOutcome::Completed).await, vec![c]);
    assert!(db.workflow_retry(wf.id).await.unwrap().is_empty());
    assert!(db.workflow_get(wf.id + 1000).await.unwrap().is_none());
}

/// A fan-out / fan-in of 2,000 jobs is inserted in one call and settles in one finish batch.
pub async fn fan_out_fan_in(db: Db) {
    const WIDTH: usize = 2_000;
    let n = WIDTH + 2;
    let mut edges = Vec::with_capacity(2 * WIDTH);
    for middle in 1..=WIDTH {
        edges.push(edge(middle, 0));
        edges.push(edge(n - 1, middle));
    }
    let wf = insert(&db, workflow(&vec!["q"; n], edges)).await;
    assert_eq!(wf.job_ids.len(), n);
    run(&db, "q", JobOutcome::Completed).await;
    let middles = run(&db, "q", JobOutcome::Completed).await;
    assert_eq!(middles.len(), WIDTH);
    assert_eq!(
        run(&db, "q", JobOutcome::Completed).await,
        vec![wf.job_ids[n - 1]]
    );
    let row = db.workflow_get(wf.id).await.unwrap().unwrap();
    assert_eq!(row.states, vec![(JobState::Completed, n as u64)]);
}

/// Every path that finalizes a job settles its dependants: a cancel by id, by filter, of one
/// job, and a rescue that discards a poison job.
pub async fn every_finalizing_path_settles(db: Db) {
    let cancel_filter = |ids: Vec<JobId>| backlog_storage::JobFilter {
        ids,
        ..Default::default()
    };
    for path in 0..4 {
        let wf = insert(&db, workflow(&["q"; 2], vec![edge(1, 0)])).await;
        let (root, dependant) = (wf.job_ids[0], wf.job_ids[1]);
        match path {
            0 => {
                db.job_cancel_by_filter(backlog_storage::JobFilter {
                    ids: vec![root],
                    states: backlog_storage::WAITING_STATES.to_vec(),
                    ..Default::default()
                })
                .await
                .unwrap();
            }
            1 => {
                db.job_cancel_by_filter(cancel_filter(vec![root]))
                    .await
                    .unwrap();
            }
            2 => {
                db.job_cancel(backlog_storage::JobCancelParams {
                    id: root,
                    kind: None,
                    request_running: true,
                })
                .await
                .unwrap();
            }
            _ => {
                let claimed = fetch(&db, "q", 1).await;
                assert_eq!(claimed[0].id, root);
                db.job_rescue(backlog_storage::JobRescueParams {
                    now: Some(chrono::Utc::now() + chrono::Duration::hours(1)),
                    max: 10,
                    poison_threshold: 1,
                })
                .await
                .unwrap();
                assert_eq!(get(&db, root).await.state, JobState::Discarded);
            }
        }
        let row = get(&db, dependant).await;
        assert_eq!(row.state, JobState::Cancelled, "path {path}");
    }
}

/// Once the cleaner deleted all of a workflow's jobs (and a finished batch's), pruning forgets
/// the workflow with its edges (and the batch); live ones stay.
pub async fn prune_forgets_finished_groups(db: Db) {
    use backlog_storage::{
        BatchAddParams, BatchCreateParams, JobDeleteFinalizedParams, PruneParams, Pruned,
    };
    let done = insert(&db, workflow(&["q"; 2], vec![edge(1, 0)])).await;
    let batch = db.batch_create(BatchCreateParams::default()).await.unwrap();
    db.batch_add(BatchAddParams {
        batch,
        jobs: vec![job("q", "member")],
    })
    .await
    .unwrap();
    db.batch_seal(batch).await.unwrap();
    let open = db.batch_create(BatchCreateParams::default()).await.unwrap();
    run(&db, "q", JobOutcome::Completed).await;
    run(&db, "q", JobOutcome::Completed).await;
    let live = insert(&db, workflow(&["later"; 2], vec![edge(1, 0)])).await;
    let limit = PruneParams::start(100);
    let nothing = Pruned {
        deleted: 0,
        next: None,
    };
    assert_eq!(
        db.workflow_prune(limit).await.unwrap(),
        nothing,
        "jobs still there"
    );
    assert_eq!(
        db.batch_prune(limit).await.unwrap(),
        nothing,
        "member still there"
    );
    db.job_delete_finalized(JobDeleteFinalizedParams {
        completed_before: Some(chrono::Utc::now() + chrono::Duration::hours(1)),
        cancelled_before: None,
        discarded_before: None,
        max: 100,
        archive: false,
    })
    .await
    .unwrap();
    assert_eq!(
        db.workflow_prune(PruneParams::start(0)).await.unwrap(),
        nothing,
        "a window of no rows examines nothing"
    );
    // Windows of one row: the sweep walks the table id by id, each window answering where
    // the next starts, until a window comes back short.
    let one = PruneParams::start(1);
    let first = db.workflow_prune(one).await.unwrap();
    assert_eq!(
        first,
        Pruned {
            deleted: 1,
            next: Some(done.id)
        }
    );
    let second = db
        .workflow_prune(PruneParams {
            after: done.id,
            ..one
        })
        .await
        .unwrap();
    assert_eq!(
        second,
        Pruned {
            deleted: 0,
            next: Some(live.id)
        },
        "the live workflow is examined and kept"
    );
    let end = PruneParams {
        after: live.id,
        ..one
    };
    assert_eq!(db.workflow_prune(end).await.unwrap(), nothing, "the end");
    // Batches: the open one (not finished) is examined and kept.
    assert_eq!(db.batch_prune(limit).await.unwrap().deleted, 1);
    assert!(db.workflow_get(done.id).await.unwrap().is_none());
    assert!(db.batch_get(batch).await.unwrap().is_none());
    assert!(db.batch_get(open).await.unwrap().is_some(), "not finished");
    assert_eq!(
        db.workflow_jobs(live.id).await.unwrap()[1].depends_on,
        vec![live.job_ids[0]]
    );
    assert_eq!(db.workflow_prune(limit).await.unwrap(), nothing);
    // A window that starts past every row examines nothing.
    let past = PruneParams {
        after: i64::MAX,
        ..limit
    };
    assert_eq!(db.batch_prune(past).await.unwrap(), nothing);
}

/// A workflow inserted again under the same idempotency key stores nothing and is answered
/// with the first insert's workflow and job ids, in input order; a bad key is refused.
pub async fn keyed_insert_is_stored_once(db: Db) {
    let mut params = workflow(&["q", "q", "q"], vec![edge(2, 0), edge(2, 1)]);
    params.idempotency_key = Some("req-7".to_owned());
    let first = insert(&db, params.clone()).await;
    assert!(!first.duplicate);
    let again = insert(&db, params.clone()).await;
    assert!(again.duplicate);
    assert_eq!((again.id, &again.job_ids), (first.id, &first.job_ids));
    assert_eq!(db.workflow_jobs(first.id).await.unwrap().len(), 3);
    assert_eq!(
        db.workflow_list(WorkflowListParams::default())
            .await
            .unwrap()
            .len(),
        1
    );
    // The answer outlives the jobs: after they ran and were deleted, a resend still gets the ids.
    assert_eq!(run(&db, "q", JobOutcome::Completed).await.len(), 2);
    assert_eq!(run(&db, "q", JobOutcome::Completed).await.len(), 1);
    let later = Some(chrono::Utc::now() + chrono::Duration::hours(1));
    db.job_delete_finalized(backlog_storage::JobDeleteFinalizedParams {
        completed_before: later,
        cancelled_before: later,
        discarded_before: later,
        max: 100,
        archive: false,
    })
    .await
    .unwrap();
    assert!(db.workflow_jobs(first.id).await.unwrap().is_empty());
    let late = insert(&db, params.clone()).await;
    assert!(late.duplicate);
    assert_eq!(late.job_ids, first.job_ids);

    let mut other = params.clone();
    other.idempotency_key = Some("req-8".to_owned());
    assert!(!insert(&db, other).await.duplicate);
    let mut bad = params;
    bad.idempotency_key = Some(String::new());
    let err = db.workflow_insert(bad).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
}

/// Two connections inserting one keyed workflow at once store it once; both get its ids.
pub async fn concurrent_keyed_inserts_store_one(db: Db) {
    let mut params = workflow(&["q", "q"], vec![edge(1, 0)]);
    params.idempotency_key = Some("race".to_owned());
    let (a, b) = tokio::join!(
        db.workflow_insert(params.clone()),
        db.workflow_insert(params)
    );
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!((a.id, &a.job_ids), (b.id, &b.job_ids));
    assert!(a.duplicate != b.duplicate);
    assert_eq!(
        db.workflow_list(WorkflowListParams::default())
            .await
            .unwrap()
            .len(),
        1
    );
    assert_eq!(db.workflow_jobs(a.id).await.unwrap().len(), 2);
}
