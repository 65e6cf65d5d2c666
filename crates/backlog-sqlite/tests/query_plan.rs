//! The hot statements read the partial indexes meant for them: the fetch walks
//! `backlog_job_fetch` in run order, the claim finds its jobs by primary key, the depth count
//! reads only unfinished jobs, and the cleaner reads finished jobs only up to its cutoff.

use backlog_sqlite::testing::test_storage;

/// `EXPLAIN QUERY PLAN` of `sql` with `params`, one line per step.
async fn plan(sql: &str, params: &[(&str, &dyn rusqlite::ToSql)]) -> String {
    let storage = test_storage().await.unwrap();
    let conn = rusqlite::Connection::open(storage.path()).unwrap();
    let mut statement = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
    let lines: Vec<String> = statement
        .query_map(params, |row| row.get::<_, String>(3))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    lines.join("\n")
}

#[tokio::test]
async fn fetch_uses_the_fetch_index() {
    let plan = plan(
        include_str!("../sql/job_fetch_available.sql"),
        rusqlite::named_params! {
            ":queue": "default",
            ":max": 10,
        },
    )
    .await;
    assert!(plan.contains("INDEX backlog_job_fetch"), "{plan}");
    assert!(
        !plan.contains("TEMP B-TREE"),
        "the fetch must not sort:\n{plan}"
    );
}

/// The claim's update walks the ids given and finds each job by its primary key: never a walk
/// of the table (with its history) probing the ids.
#[tokio::test]
async fn claim_finds_each_job_by_its_primary_key() {
    let plan = plan(
        include_str!("../sql/job_fetch_available_claim.sql"),
        rusqlite::named_params! {
            ":ids": "[1, 2, 3]",
            ":tokens": vec![0u8; 48],
            ":now": "2024-01-01T00:00:00.000000Z",
            ":worker_id": "w",
            ":lease_expires_at": "2024-01-01T00:01:00.000000Z",
        },
    )
    .await;
    let lines: Vec<&str> = plan.lines().map(str::trim).collect();
    assert!(
        lines
            .first()
            .is_some_and(|l| l.starts_with("SCAN claimed VIRTUAL TABLE")),
        "the ids must be the outer loop:\n{plan}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("SEARCH backlog_job USING INTEGER PRIMARY KEY")),
        "{plan}"
    );
    assert!(
        !lines.iter().any(|l| l.starts_with("SCAN backlog_job")),
        "a walk of the whole table:\n{plan}"
    );
}

/// The runners' depth count reads the unfinished states through their partial indexes, never
/// the whole table with its history of finished jobs.
#[tokio::test]
async fn depth_count_reads_the_partial_indexes() {
    let plan = plan(include_str!("../sql/job_count_unfinished.sql"), &[]).await;
    for index in [
        "backlog_job_fetch",
        "backlog_job_pending",
        "backlog_job_lease",
    ] {
        assert!(plan.contains(&format!("INDEX {index}")), "{plan}");
    }
    assert!(
        !plan.lines().any(|l| l.trim() == "SCAN backlog_job"),
        "a scan of the whole table:\n{plan}"
    );
}

/// The cleaner searches `backlog_job_finalized` up to the latest cutoff: without that bound it
/// walked the whole index in time order, every finished job still inside its retention, to find
/// none due (two seconds of the writer's time per pass beside 10,000,000 of them).
#[tokio::test]
async fn cleaner_reads_finished_jobs_only_up_to_its_cutoff() {
    let plan = plan(
        include_str!("../sql/job_delete_finalized.sql"),
        rusqlite::named_params! {
            ":completed_before": "2024-01-01T00:00:00.000000Z",
            ":cancelled_before": None::<String>,
            ":discarded_before": "2023-12-01T00:00:00.000000Z",
            ":latest_before": "2024-01-01T00:00:00.000000Z",
            ":max": 1000,
        },
    )
    .await;
    // `finalized_at IS NOT NULL` reads as `finalized_at>?`: the bound is the `<?`.
    assert!(
        plan.contains("SEARCH backlog_job USING INDEX backlog_job_finalized (")
            && plan.contains("finalized_at<?)"),
        "{plan}"
    );
    assert!(
        !plan.contains("TEMP B-TREE"),
        "the cleaner must not sort:\n{plan}"
    );
}
