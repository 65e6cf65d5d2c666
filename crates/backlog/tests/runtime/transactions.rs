//! Enqueue inside the caller's own transaction: the job exists only if the transaction commits.

use std::time::Duration;

use backlog::{JobState, PgClient, Runner, SqliteClient, Workers};

use crate::support::{wait_for, Task, TaskWorker};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_commit_and_rollback() {
    let pg = backlog::postgres::testing::test_storage().await;
    let client = PgClient::new(pg.clone());
    let pool = pg.pool().clone();
    let mut conn = pool.get().await.unwrap();
    conn.batch_execute("CREATE TABLE app_user (id bigint PRIMARY KEY)")
        .await
        .unwrap();

    let tx = conn.transaction().await.unwrap();
    tx.execute("INSERT INTO app_user VALUES (1)", &[])
        .await
        .unwrap();
    let kept = client
        .enqueue_tx(&*tx, Task::ok(), Default::default())
        .await
        .unwrap();
    tx.commit().await.unwrap();

    let tx = conn.transaction().await.unwrap();
    tx.execute("INSERT INTO app_user VALUES (2)", &[])
        .await
        .unwrap();
    let dropped = client
        .enqueue_tx(&*tx, Task::ok(), Default::default())
        .await
        .unwrap();
    tx.rollback().await.unwrap();

    assert!(client.job_get(kept).await.unwrap().is_some());
    assert!(
        client.job_get(dropped).await.unwrap().is_none(),
        "rolled back with the caller's data"
    );

    let runner = Runner::builder(
        client.storage().clone(),
        Workers::new().register(TaskWorker::default()),
    )
    .start()
    .unwrap();
    let mut events = runner.subscribe();
    wait_for(&mut events, kept, JobState::Completed).await;
    runner.shutdown(Duration::from_secs(5)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_commit_and_rollback() {
    let sq = backlog::sqlite::testing::test_storage().await.unwrap();
    let path = sq.path().to_owned();
    let client = SqliteClient::new(sq);
    let mut conn = rusqlite::Connection::open(&path).unwrap();
    conn.busy_timeout(Duration::from_secs(5)).unwrap();
    conn.execute_batch("CREATE TABLE app_user (id INTEGER PRIMARY KEY)")
        .unwrap();

    let tx = conn.transaction().unwrap();
    tx.execute("INSERT INTO app_user VALUES (1)", []).unwrap();
    let kept = client
        .enqueue_tx(&tx, Task::ok(), Default::default())
        .unwrap();
    tx.commit().unwrap();

    let tx = conn.transaction().unwrap();
    tx.execute("INSERT INTO app_user VALUES (2)", []).unwrap();
    let dropped = client
        .enqueue_tx(&tx, Task::ok(), Default::default())
        .unwrap();
    tx.rollback().unwrap();
    drop(conn);

    assert!(client.job_get(kept).await.unwrap().is_some());
    assert!(
        client.job_get(dropped).await.unwrap().is_none(),
        "rolled back with the caller's data"
    );
}

/// A workflow inserted in the caller's transaction exists, edges and all, only if it commits.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_workflow_commit_and_rollback() {
    let pg = backlog::postgres::testing::test_storage().await;
    let client = PgClient::new(pg.clone());
    let pool = pg.pool().clone();
    let mut conn = pool.get().await.unwrap();
    let workflow = || {
        let mut workflow = backlog::Workflow::new("in a transaction");
        let first = workflow.add(Task::ok());
        workflow.add_after(Task::ok(), &[first]);
        workflow
    };

    let tx = conn.transaction().await.unwrap();
    let dropped = client.workflow_insert_tx(&*tx, workflow()).await.unwrap();
    tx.rollback().await.unwrap();
    let tx = conn.transaction().await.unwrap();
    let kept = client.workflow_insert_tx(&*tx, workflow()).await.unwrap();
    tx.commit().await.unwrap();

    assert!(client.workflow_get(dropped.id).await.unwrap().is_none());
    assert!(client.job_get(dropped.job_ids[0]).await.unwrap().is_none());
    let jobs = client.workflow_jobs(kept.id).await.unwrap();
    assert_eq!(jobs.len(), 2);
    assert_eq!(jobs[1].depends_on, vec![kept.job_ids[0]]);

    let runner = Runner::builder(
        client.storage().clone(),
        Workers::new().register(TaskWorker::default()),
    )
    .start()
    .unwrap();
    let mut events = runner.subscribe();
    wait_for(&mut events, kept.job_ids[1], JobState::Completed).await;
    runner.shutdown(Duration::from_secs(5)).await;
}

/// The same on SQLite: a workflow in the caller's rusqlite transaction.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_workflow_commit_and_rollback() {
    let sq = backlog::sqlite::testing::test_storage().await.unwrap();
    let path = sq.path().to_owned();
    let client = SqliteClient::new(sq);
    let mut conn = rusqlite::Connection::open(&path).unwrap();
    conn.busy_timeout(Duration::from_secs(5)).unwrap();
    let workflow = || {
        let mut workflow = backlog::Workflow::new("in a transaction");
        let first = workflow.add(Task::ok());
        workflow.add_after(Task::ok(), &[first]);
        workflow
    };

    let tx = conn.transaction().unwrap();
    let dropped = client.workflow_insert_tx(&tx, workflow()).unwrap();
    tx.rollback().unwrap();
    // Checked before the next insert: SQLite hands rolled-back ids out again.
    assert!(client.workflow_get(dropped.id).await.unwrap().is_none());
    assert!(client.job_get(dropped.job_ids[1]).await.unwrap().is_none());
    let tx = conn.transaction().unwrap();
    let kept = client.workflow_insert_tx(&tx, workflow()).unwrap();
    tx.commit().unwrap();
    drop(conn);

    let jobs = client.workflow_jobs(kept.id).await.unwrap();
    assert_eq!(jobs.len(), 2);
    assert_eq!(jobs[1].depends_on, vec![kept.job_ids[0]]);
    assert_eq!(jobs[1].deps_left, 1);
}
