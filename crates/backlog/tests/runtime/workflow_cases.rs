//! Workflows and batches run by the runtime end to end.

use std::time::Duration;

use backlog::{
    BatchCounts, CallbackOn, Client, InsertOpts, Job, JobArgs, JobError, JobState, Runner,
    RunnerConfig, Workers, Workflow, WorkflowError,
};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::support::{wait_for, Db};

/// A step that records its name and the names its dependencies recorded.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Step {
    pub name: String,
}

impl JobArgs for Step {
    const KIND: &'static str = "wf_step";
}

#[derive(Clone)]
struct StepWorker;

impl backlog::Worker for StepWorker {
    type Args = Step;

    async fn work(&self, job: Job<Step>) -> Result<(), JobError> {
        let deps = job.dependency_results().await.map_err(JobError::retry)?;
        let mut inputs: Vec<String> = deps
            .iter()
            .filter_map(|d| d.result.as_ref()?.get("name")?.as_str().map(str::to_owned))
            .collect();
        inputs.sort();
        job.set_result(json!({ "name": job.args.name, "inputs": inputs }))
            .map_err(JobError::discard)?;
        Ok(())
    }
}

/// A batch callback: the user's args with the counts filled in.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ImportDone {
    pub to: String,
    #[serde(default)]
    pub batch: BatchCounts,
}

impl JobArgs for ImportDone {
    const KIND: &'static str = "import_done";
}

#[derive(Clone)]
struct DoneWorker;

impl backlog::Worker for DoneWorker {
    type Args = ImportDone;

    async fn work(&self, job: Job<ImportDone>) -> Result<(), JobError> {
        job.set_result(json!({ "to": job.args.to, "succeeded": job.args.batch.succeeded }))
            .map_err(JobError::discard)?;
        Ok(())
    }
}

fn fast(config: &mut RunnerConfig) {
    config.poll_interval = Duration::from_secs(30);
}

fn runner(db: &Db) -> Runner {
    Runner::builder(
        db.clone(),
        Workers::new().register(StepWorker).register(DoneWorker),
    )
    .queue("default", 4)
    .configure(fast)
    .start()
    .expect("runner starts")
}

fn step(name: &str) -> Step {
    Step {
        name: name.to_owned(),
    }
}

/// A diamond runs in dependency order, each dependant released by its dependencies' completion
/// (the poll interval is 30 s, so only wake-ups can make this quick), and the sink reads its
/// inputs' results.
pub async fn diamond_runs_in_order_and_reads_results(db: Db) {
    let client = Client::from_arc(db.clone());
    let runner = runner(&db);
    let mut events = runner.subscribe();
    let mut workflow = Workflow::new("diamond");
    let extract = workflow.add(step("extract"));
    let left = workflow.add_after(step("left"), &[extract]);
    let right = workflow.add_after(step("right"), &[extract]);
    let sink = workflow.add_after(step("sink"), &[left, right]);
    let inserted = client.workflow_insert(workflow).await.unwrap();
    let sink_id = inserted.job_ids[sink.index()];
    let started = std::time::Instant::now();
    wait_for(&mut events, sink_id, JobState::Completed).await;
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "released by wake-ups, not by polling"
    );
    runner.shutdown(Duration::from_secs(5)).await;
    let row = db.job_get(sink_id).await.unwrap().unwrap();
    assert_eq!(
        row.result,
        Some(json!({ "name": "sink", "inputs": ["left", "right"] }))
    );
    let left_row = db
        .job_get(inserted.job_ids[left.index()])
        .await
        .unwrap()
        .unwrap();
    assert!(left_row.finalized_at <= row.attempted_at);
}

/// A cycle, or a step of another workflow, is refused before anything is stored.
pub async fn bad_graphs_are_refused(db: Db) {
    let client = Client::from_arc(db.clone());
    let mut workflow = Workflow::new("loop");
    let a = workflow.add(step("a"));
    let b = workflow.add_after(step("b"), &[a]);
    workflow.depend(a, b);
    match client.workflow_insert(workflow).await {
        Err(WorkflowError::Invalid(backlog::storage::WorkflowInvalid::Cycle(jobs))) => {
            assert_eq!(jobs, vec![0, 1])
        }
        other => panic!("expected a cycle error, got {other:?}"),
    }
    let mut other = Workflow::new("other");
    let foreign = other.add(step("x"));
    let mut workflow = Workflow::new("mixed");
    workflow.add_after(step("y"), &[foreign]);
    assert!(matches!(
        client.workflow_insert(workflow).await,
        Err(WorkflowError::ForeignStep { .. })
    ));
    assert!(db.job_list(Default::default()).await.unwrap().is_empty());
}

/// A batch's typed callback runs once with the counts, after its members ran.
pub async fn batch_callback_runs_with_counts(db: Db) {
    let client = Client::from_arc(db.clone());
    let callback = client
        .batch_callback(
            &ImportDone {
                to: "ops".to_owned(),
                batch: BatchCounts::default(),
            },
            InsertOpts::new(),
            CallbackOn::Success,
        )
        .unwrap();
    let batch = client
        .batch_create("import", None, Some(callback))
        .await
        .unwrap();
    client
        .batch_add(batch, [step("a"), step("b")], InsertOpts::new())
        .await
        .unwrap();
    client
        .batch_add(batch, [step("c")], InsertOpts::new())
        .await
        .unwrap();
    client.batch_seal(batch).await.unwrap();
    let runner = runner(&db);
    let mut events = runner.subscribe();
    let callback_id = loop {
        let row = client.batch_get(batch).await.unwrap().unwrap();
        if let Some(id) = row.callback_job_id {
            break id;
        }
        // The callback is enqueued with the last member's outcome: wait for outcomes.
        tokio::time::timeout(Duration::from_secs(20), events.recv())
            .await
            .expect("members finish")
            .unwrap();
    };
    wait_for(&mut events, callback_id, JobState::Completed).await;
    runner.shutdown(Duration::from_secs(5)).await;
    let row = db.job_get(callback_id).await.unwrap().unwrap();
    assert_eq!(row.result, Some(json!({ "to": "ops", "succeeded": 3 })));
}

/// The cleaner forgets every finished workflow once their jobs are deleted, sweeping the table
/// in windows (here of two rows, so five workflows take several), and keeps the one whose job
/// is still waiting.
pub async fn cleaner_sweeps_finished_workflows_in_windows(db: Db) {
    use backlog::maintenance::Retention;
    let client = Client::from_arc(db.clone());
    let mut finished = Vec::new();
    let mut last_jobs = Vec::new();
    for i in 0..5 {
        let mut workflow = Workflow::new("sweep");
        let first = workflow.add(step(&format!("a{i}")));
        let second = workflow.add_after(step(&format!("b{i}")), &[first]);
        let inserted = client.workflow_insert(workflow).await.unwrap();
        last_jobs.push(inserted.job_ids[second.index()]);
        finished.push(inserted.id);
    }
    let mut waiting = Workflow::new("waiting");
    waiting.add_with(step("later"), InsertOpts::new().queue("nobody"), &[]);
    let waiting = client.workflow_insert(waiting).await.unwrap();
    let runner = Runner::builder(db.clone(), Workers::new().register(StepWorker))
        .queue("default", 4)
        .configure(|c| {
            c.maintenance_config.clean_interval = Duration::from_millis(50);
            c.maintenance_config.batch = 2;
            c.maintenance_config.retention = Retention {
                completed: Some(Duration::ZERO),
                cancelled: None,
                discarded: None,
                archive: false,
            };
        })
        .start()
        .unwrap();
    crate::support::eventually("every finished workflow is forgotten", || async {
        let mut left = 0;
        for id in &finished {
            left += usize::from(db.workflow_get(*id).await.unwrap().is_some());
        }
        left == 0
    })
    .await;
    runner.shutdown(Duration::from_secs(5)).await;
    for job in last_jobs {
        assert!(db.job_get(job).await.unwrap().is_none(), "deleted first");
    }
    assert!(
        db.workflow_get(waiting.id).await.unwrap().is_some(),
        "a workflow with a job left stays"
    );
}
