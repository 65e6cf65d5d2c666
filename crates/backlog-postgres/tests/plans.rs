//! The hot statements' plans do not depend on statistics (issue #9).
//!
//! A queue's job table changes shape all the time (empty, then a million available jobs, then
//! all completed), and autovacuum may not have analyzed it yet, or did so while it was empty.
//! Each hot statement is prepared from the very `.sql` file the storage runs, the table is
//! filled like a busy queue, and `EXPLAIN EXECUTE` (pooled connections plan every execution
//! with its parameters: `force_custom_plan`) must show a plan driven by the right index: no
//! sequential scan of `backlog_job`, no hash or bitmap built over a whole index of it, the
//! claim walking `backlog_job_fetch` in order, id lookups through the primary key.
//!
//! Four situations: the table never analyzed (a fresh install, or a `TRUNCATE`), analyzed
//! while empty, then filled, and analyzed while busy; and the generic plans the hot statements
//! run with (`src/plan.rs`) made while the table was empty, then used on the filled table.

use backlog_postgres::testing::test_storage;
use backlog_storage::{JobInsert, JobInsertManyParams, OnConflict, Storage, UniqueInsert};
use backlog_types::JobState;
use serde_json::{json, Value};
use tokio_postgres::{Client, SimpleQueryMessage};

const FETCH: &str = include_str!("../sql/job_fetch_available.sql");
const FINISH: &str = include_str!("../sql/job_finish_many.sql");
const HEARTBEAT: &str = include_str!("../sql/job_heartbeat_many.sql");
const INSERT: &str = include_str!("../sql/job_insert_many.sql");
const INSERT_IDEMPOTENT: &str = include_str!("../sql/job_insert_many_idempotent.sql");
const RESCUE: &str = include_str!("../sql/job_rescue.sql");
const SCHEDULE: &str = include_str!("../sql/job_schedule.sql");
const SETTLE: &str = include_str!("../sql/job_dependants_settle.sql");
const FAIR_CLAIM: &str = include_str!("../sql/fair_claim.sql");
const COUNT_UNFINISHED: &str = include_str!("../sql/job_count_unfinished.sql");
const CLEAN: &str = include_str!("../sql/job_delete_finalized.sql");
const LATENCY: &str = include_str!("../sql/queue_latency.sql");
/// The switches `src/plan.rs` sends around a generically planned statement.
const ENTER: &str = include_str!("../sql/plan_generic_enter.sql");
const LEAVE: &str = include_str!("../sql/plan_generic_leave.sql");

/// The indexes of `backlog_job` (a bitmap index scan names its index, not its table).
const JOB_INDEXES: &[&str] = &[
    "backlog_job_pkey",
    "backlog_job_fetch",
    "backlog_job_fetch_partition",
    "backlog_job_running_partition",
    "backlog_job_pending",
    "backlog_job_lease",
    "backlog_job_finalized",
    "backlog_job_unique",
    "backlog_job_fingerprint",
    "backlog_job_workflow",
    "backlog_job_batch",
];

const PKEY: &str = "backlog_job_pkey";
const FETCH_INDEX: &str = "backlog_job_fetch";

/// A busy queue: 100,000 available jobs in two queues, 2,000 running under lease tokens (100
/// of them expired), 20,000 completed, scheduled and retryable jobs (some due), a fair queue
/// of 5,000 keyed jobs, and 200 workflow jobs waiting on running ones.
const FILL: &str = "
INSERT INTO backlog_job (state, queue, kind, args, max_attempts, scheduled_at)
SELECT 'available', CASE WHEN g % 2 = 0 THEN 'default' ELSE 'mail' END, 'k',
    jsonb_build_object('i', g), 25, now() - interval '1 hour' + g * interval '1 millisecond'
FROM generate_series(1, 100000) AS g;

INSERT INTO backlog_job (state, queue, kind, args, max_attempts, attempt, attempted_at,
    lease_expires_at, lease_token)
SELECT 'running', 'default', 'k', '{}', 25, 1, now(),
    now() + CASE WHEN g <= 100 THEN interval '-1 minute' ELSE interval '5 minutes' END,
    uuid_send(gen_random_uuid())
FROM generate_series(1, 2000) AS g;

INSERT INTO backlog_job (state, queue, kind, args, max_attempts, attempt, finalized_at)
SELECT 'completed', 'default', 'k', '{}', 25, 1, now()
FROM generate_series(1, 20000) AS g;

INSERT INTO backlog_job (state, queue, kind, args, max_attempts, scheduled_at)
SELECT CASE WHEN g % 4 = 0 THEN 'retryable' ELSE 'scheduled' END::backlog_job_state,
    'default', 'k', '{}', 25,
    now() + CASE WHEN g <= 500 THEN interval '-1 second' ELSE interval '1 hour' END
FROM generate_series(1, 2500) AS g;

INSERT INTO backlog_queue (name, fair, partition_max_running, partition_cursor)
VALUES ('fair', true, 3, 'key-25');
INSERT INTO backlog_job (state, queue, kind, args, max_attempts, partition_key)
SELECT 'available', 'fair', 'k', '{}', 25, 'key-' || (g % 50)
FROM generate_series(1, 5000) AS g;
INSERT INTO backlog_job (state, queue, kind, args, max_attempts, partition_key, attempt,
    lease_expires_at, lease_token)
SELECT 'running', 'fair', 'k', '{}', 25, 'key-' || (g % 50), 1, now() + interval '5 minutes',
    uuid_send(gen_random_uuid())
FROM generate_series(1, 100) AS g;

INSERT INTO backlog_workflow (name) VALUES ('w');
WITH waiting AS (
    INSERT INTO backlog_job (state, queue, kind, args, max_attempts, workflow_id, deps_left,
        scheduled_at)
    SELECT 'scheduled', 'default', 'k', '{}', 25, 1, 1, 'infinity'
    FROM generate_series(1, 200) AS g
    RETURNING id
)
INSERT INTO backlog_job_dependency (workflow_id, depends_on, job_id)
SELECT 1, dep.id, waiting.id
FROM (SELECT id, row_number() OVER (ORDER BY id) AS n FROM waiting) AS waiting
JOIN (
    SELECT id, row_number() OVER (ORDER BY id) AS n
    FROM backlog_job WHERE state = 'running' AND queue = 'default'
) AS dep ON dep.n = waiting.n;
";

/// What a statement's plan may use, and must.
#[derive(Clone)]
struct Expect {
    /// The indexes of `backlog_job` the plan may scan (each with an index condition).
    allowed: &'static [&'static str],
    /// The indexes it must scan.
    required: &'static [&'static str],
    /// The claim walks this index in order: no Sort above it.
    ordered: Option<&'static str>,
    /// Partial indexes it may read whole (no index condition): those whose predicate is the
    /// statement's own filter, so that reading all of it reads only the rows wanted.
    whole: &'static [&'static str],
}

async fn simple_text(client: &Client, sql: &str) -> String {
    let messages = client.simple_query(sql).await.unwrap();
    messages
        .iter()
        .find_map(|m| match m {
            SimpleQueryMessage::Row(row) => Some(row.get(0).unwrap_or("").to_owned()),
            _ => None,
        })
        .unwrap_or_default()
}

/// `query`'s single text value as an SQL literal of `ty`.
async fn literal(client: &Client, query: &str, ty: &str) -> String {
    let text = simple_text(client, query).await;
    format!("'{}'::{ty}", text.replace('\'', "''"))
}

fn is_job_scan(node: &Value) -> bool {
    node["Relation Name"] == "backlog_job"
        || JOB_INDEXES.contains(&node["Index Name"].as_str().unwrap_or(""))
}

/// The nodes below `node`, CTE and subplan bodies included.
fn walk<'a>(node: &'a Value, out: &mut Vec<&'a Value>) {
    out.push(node);
    for child in node["Plans"].as_array().into_iter().flatten() {
        walk(child, out);
    }
}

/// The nodes that feed `node` directly: its subtree without InitPlans and SubPlans (a CTE's
/// body hangs under the node that first reads it).
fn feeds<'a>(node: &'a Value, out: &mut Vec<&'a Value>) {
    out.push(node);
    for child in node["Plans"].as_array().into_iter().flatten() {
        let rel = child["Parent Relationship"].as_str().unwrap_or("");
        if rel != "InitPlan" && rel != "SubPlan" {
            feeds(child, out);
        }
    }
}

/// The violations of `expect` in `plan` (the root of an `EXPLAIN (FORMAT JSON)`).
fn violations(plan: &Value, expect: &Expect) -> Vec<String> {
    let mut problems = Vec::new();
    let mut nodes = Vec::new();
    walk(plan, &mut nodes);
    let mut used = Vec::new();
    for node in &nodes {
        let kind = node["Node Type"].as_str().unwrap_or("");
        if kind == "Seq Scan" && node["Relation Name"] == "backlog_job" {
            problems.push("a sequential scan of backlog_job".to_owned());
        }
        if kind == "BitmapAnd" || kind == "BitmapOr" {
            problems.push(format!("a {kind}"));
        }
        if let Some(index) = node["Index Name"].as_str() {
            if JOB_INDEXES.contains(&index) {
                used.push(index);
                if !expect.allowed.contains(&index) {
                    problems.push(format!("a scan of {index}"));
                }
                let cond = node["Index Cond"].as_str();
                if cond.is_none() && !expect.whole.contains(&index) {
                    problems.push(format!("a walk of all of {index} (no index condition)"));
                }
                // `id = other.id AND id = ANY ($n)`: the inner side of a nested loop that
                // re-reads the whole array for every outer row (quadratic in the batch).
                if cond.is_some_and(|c| c.contains(" AND ") && c.contains("= ANY ($")) {
                    problems.push(format!("an array probe of {index} repeated per joined row"));
                }
            }
        }
        if kind == "Hash" {
            let mut below = Vec::new();
            feeds(node, &mut below);
            let over_job = below.iter().any(|n| {
                is_job_scan(n) && n["Index Name"] != PKEY && n["Node Type"] != "Bitmap Heap Scan"
            });
            if over_job {
                problems.push("a hash built over backlog_job".to_owned());
            }
        }
        if kind == "Sort" {
            if let Some(ordered) = expect.ordered {
                let mut below = Vec::new();
                feeds(node, &mut below);
                if below.iter().any(|n| n["Index Name"] == ordered) {
                    problems.push(format!("a sort of the rows read from {ordered}"));
                }
            }
        }
    }
    // A correlated subplan runs once per row: one that scans the whole batch is quadratic.
    for node in &nodes {
        if node["Parent Relationship"] == "SubPlan" {
            let mut below = Vec::new();
            walk(node, &mut below);
            if below.iter().any(|n| n["CTE Name"] == "input") {
                problems.push("a scan of the whole input per row".to_owned());
            }
        }
    }
    for index in expect.required {
        if !used.contains(index) {
            problems.push(format!("no scan of {index}"));
        }
    }
    if let Some(ordered) = expect.ordered {
        let walked = nodes
            .iter()
            .any(|n| n["Index Name"] == ordered && n["Node Type"] != "Bitmap Index Scan");
        if !walked {
            problems.push(format!("no ordered index scan of {ordered}"));
        }
    }
    problems
}

/// Prepares `sql` as `name`, explains `EXECUTE name(args)`, returns the problems found (with
/// the plan) and deallocates.
async fn check(client: &Client, name: &str, sql: &str, args: &str, expect: Expect) -> Vec<String> {
    client
        .batch_execute(&format!("PREPARE {name} AS {sql}"))
        .await
        .unwrap();
    let args = if args.is_empty() {
        String::new()
    } else {
        format!("({args})")
    };
    let json = simple_text(
        client,
        &format!("EXPLAIN (FORMAT JSON) EXECUTE {name} {args}"),
    )
    .await;
    let text = client
        .simple_query(&format!("EXPLAIN EXECUTE {name} {args}"))
        .await
        .unwrap()
        .iter()
        .filter_map(|m| match m {
            SimpleQueryMessage::Row(row) => row.get(0).map(str::to_owned),
            _ => None,
        })
        .collect::<Vec<_>>()
        .join("\n");
    client
        .batch_execute(&format!("DEALLOCATE {name}"))
        .await
        .unwrap();
    let parsed: Value = serde_json::from_str(&json).unwrap();
    let problems = violations(&parsed[0]["Plan"], &expect);
    if problems.is_empty() {
        Vec::new()
    } else {
        vec![format!("{name}: {}\n{text}", problems.join(", "))]
    }
}

/// Like [`check`], with the connection planning generically (`plan_generic_enter.sql`), as the
/// storage runs the inserts, the outcome write and the heartbeat (`src/plan.rs`): the plan
/// shown is the one cached for every later execution, made without the parameters' values.
async fn check_generic(
    client: &Client,
    name: &str,
    sql: &str,
    args: &str,
    expect: Expect,
) -> Vec<String> {
    client.batch_execute(ENTER).await.unwrap();
    let problems = check(client, &format!("{name}_generic"), sql, args, expect).await;
    client.batch_execute(LEAVE).await.unwrap();
    problems
}

/// Explains every hot statement on the filled table; panics listing every bad plan.
async fn check_all(client: &Client, situation: &str) {
    let mode = simple_text(client, "SHOW plan_cache_mode").await;
    assert_eq!(mode, "force_custom_plan");
    let mut problems = Vec::new();

    // Claims: the fast path, the limited path, with kinds; a large batch too.
    for (label, args) in [
        (
            "fetch_fast",
            "'default', 10, 'w', 30000000, NULL, false, '{}'",
        ),
        (
            "fetch_limited",
            "'default', 10, 'w', 30000000, NULL, true, '{}'",
        ),
        (
            "fetch_kinds",
            "'default', 10, 'w', 30000000, NULL, false, '{k}'",
        ),
        (
            "fetch_large",
            "'default', 1000, 'w', 30000000, NULL, false, '{}'",
        ),
    ] {
        problems.extend(check(client, label, FETCH, args, claim_expect()).await);
        problems.extend(check_generic(client, label, FETCH, args, claim_expect()).await);
    }

    // The queue latency (dashboard, metrics): probes of the claim's index per queue and
    // priority level, never the table.
    let latency = Expect {
        allowed: &[FETCH_INDEX],
        required: &[FETCH_INDEX],
        ordered: None,
        whole: &[FETCH_INDEX],
    };
    problems.extend(check(client, "queue_latency", LATENCY, "", latency).await);

    // Completions and heartbeats: a small batch and a full one (the completer's default).
    for n in [10, 1000] {
        let running = format!(
            "(SELECT id, lease_token FROM backlog_job WHERE state = 'running' \
             ORDER BY id LIMIT {n}) AS r"
        );
        let ids = literal(
            client,
            &format!("SELECT array_agg(id ORDER BY id)::text FROM {running}"),
            "bigint[]",
        )
        .await;
        let tokens = literal(
            client,
            &format!("SELECT array_agg(lease_token ORDER BY id)::text FROM {running}"),
            "bytea[]",
        )
        .await;
        let args = finish_args(n, &ids, &tokens);
        let heartbeat_args = format!("{ids}, {tokens}, 30000000");
        for generic in [false, true] {
            let check = |name: String, sql, args: String| async move {
                if generic {
                    check_generic(client, &name, sql, &args, id_lookup_expect()).await
                } else {
                    check(client, &name, sql, &args, id_lookup_expect()).await
                }
            };
            problems.extend(check(format!("finish_{n}"), FINISH, args.clone()).await);
            problems
                .extend(check(format!("heartbeat_{n}"), HEARTBEAT, heartbeat_args.clone()).await);
        }
    }

    // Inserts: 1,000 jobs, half of them unique, none of them reading the job table.
    let n = 1000;
    let keys = literal(
        client,
        &format!(
            "SELECT array_agg(CASE WHEN g % 2 = 0 THEN int4send(g) END)::text \
             FROM generate_series(1, {n}) AS g"
        ),
        "bytea[]",
    )
    .await;
    let states = literal(
        client,
        &format!(
            "SELECT array_agg(CASE WHEN g % 2 = 0 THEN 15 END)::text \
             FROM generate_series(1, {n}) AS g"
        ),
        "smallint[]",
    )
    .await;
    let insert_args = insert_args(n, &keys, &states);
    problems.extend(check(client, "insert", INSERT, &insert_args, no_job_scan()).await);
    problems.extend(check_generic(client, "insert", INSERT, &insert_args, no_job_scan()).await);
    let idempotent_args = idempotent_args(n, &insert_args, "NULL", "NULL");
    problems.extend(
        check(
            client,
            "insert_idempotent",
            INSERT_IDEMPOTENT,
            &idempotent_args,
            no_job_scan(),
        )
        .await,
    );
    problems.extend(
        check_generic(
            client,
            "insert_idempotent",
            INSERT_IDEMPOTENT,
            &idempotent_args,
            no_job_scan(),
        )
        .await,
    );

    // Maintenance: rescue expired leases, promote due jobs, settle dependants.
    let rescue = Expect {
        allowed: &["backlog_job_lease", PKEY],
        required: &["backlog_job_lease", PKEY],
        ordered: None,
        whole: &[],
    };
    problems.extend(check(client, "rescue", RESCUE, "NULL, 1000, 0", rescue).await);
    let schedule = Expect {
        allowed: &["backlog_job_pending", PKEY],
        required: &["backlog_job_pending", PKEY],
        ordered: None,
        whole: &[],
    };
    problems.extend(
        check(
            client,
            "schedule",
            SCHEDULE,
            "NULL, 1000, 'backlog'",
            schedule,
        )
        .await,
    );
    let dependencies = literal(
        client,
        "SELECT array_agg(depends_on ORDER BY depends_on)::text FROM backlog_job_dependency",
        "bigint[]",
    )
    .await;
    problems.extend(check(client, "settle", SETTLE, &dependencies, id_lookup_expect()).await);
    // The cleaner, beside finished jobs none of which is due, with the default retention (one
    // day for completed jobs, seven for the others): reads backlog_job_finalized up to the latest
    // cutoff, not the whole of it. (With equal cutoffs the planner factors the bound out of the
    // ORs by itself; with these it cannot.)
    let clean = Expect {
        allowed: &["backlog_job_finalized", PKEY],
        required: &["backlog_job_finalized"],
        ordered: None,
        whole: &[],
    };
    let (day, week) = ("now() - interval '1 day'", "now() - interval '7 days'");
    problems.extend(
        check(
            client,
            "clean",
            CLEAN,
            &format!("{day}, {week}, {week}, 1000, false, {day}"),
            clean,
        )
        .await,
    );

    // The fair claim (see `fair_expect`): plain, guarded (the pipelined fetch's), with kinds,
    // and a large claim.
    for (label, args) in [
        ("fair_claim", "'fair', false, 10, '{}', 'w', 30000000, NULL"),
        (
            "fair_claim_guarded",
            "'fair', true, 10, '{}', 'w', 30000000, NULL",
        ),
        (
            "fair_claim_kinds",
            "'fair', false, 10, '{k}', 'w', 30000000, NULL",
        ),
        (
            "fair_claim_large",
            "'fair', false, 1000, '{}', 'w', 30000000, NULL",
        ),
    ] {
        problems.extend(check(client, label, FAIR_CLAIM, args, fair_expect()).await);
        problems.extend(check_generic(client, label, FAIR_CLAIM, args, fair_expect()).await);
    }

    assert!(
        problems.is_empty(),
        "{situation}: {} bad plans\n\n{}",
        problems.len(),
        problems.join("\n\n")
    );
}

/// A claim: walks `backlog_job_fetch` in order, updates through the primary key.
fn claim_expect() -> Expect {
    Expect {
        allowed: &[FETCH_INDEX, PKEY],
        required: &[FETCH_INDEX, PKEY],
        ordered: Some(FETCH_INDEX),
        whole: &[],
    }
}

/// An insert: reads nothing of the job table.
fn no_job_scan() -> Expect {
    Expect {
        allowed: &[],
        required: &[],
        ordered: None,
        whole: &[],
    }
}

/// The fair claim. Its cursor and per-key limit come from the queue's row, never from a
/// parameter, so no plan can fold the per-key count away: the running jobs' index may be read,
/// whatever the limit.
fn fair_expect() -> Expect {
    const INDEXES: &[&str] = &[
        "backlog_job_fetch_partition",
        "backlog_job_running_partition",
        FETCH_INDEX,
        PKEY,
    ];
    Expect {
        allowed: INDEXES,
        required: INDEXES,
        ordered: None,
        whole: &[],
    }
}

/// `array_fill(value::ty, ARRAY[n])`: a parameter array of `n` equal elements.
fn fill(n: usize, value: &str, ty: &str) -> String {
    format!("array_fill({value}::{ty}, ARRAY[{n}])")
}

/// Arguments of `job_finish_many.sql`: `n` completions of the jobs `ids` under `tokens`.
fn finish_args(n: usize, ids: &str, tokens: &str) -> String {
    format!(
        "{ids}, {tokens}, {}, {}, {}, {}, {}, {}, false, {}, {}",
        fill(n, "'completed'", "text"),
        fill(n, "0", "bigint"),
        fill(n, "NULL", "text"),
        fill(n, "false", "boolean"),
        fill(n, "1000", "bigint"),
        fill(n, "NULL", "jsonb"),
        fill(n, "NULL", "text"),
        fill(n, "NULL", "text"),
    )
}

/// Arguments of `job_insert_many.sql`: `n` jobs with unique `keys` in `states` (arrays).
fn insert_args(n: usize, keys: &str, states: &str) -> String {
    format!(
        "{}, {}, {}, {}, {}, {}, {}, {}, 'backlog', {keys}, {states}, {}, {}, false, {}, {}, {}, \
         {}, {}",
        fill(n, "'default'", "text"),
        fill(n, "'k'", "text"),
        fill(n, "'{}'", "jsonb"),
        fill(n, "0", "smallint"),
        fill(n, "25", "integer"),
        fill(n, "NULL", "timestamptz"),
        fill(n, "'[]'", "jsonb"),
        fill(n, "'{}'", "jsonb"),
        fill(n, "false", "boolean"),
        fill(n, "NULL", "text"),
        fill(n, "NULL", "bigint"),
        fill(n, "NULL", "bigint"),
        fill(n, "NULL", "jsonb"),
        fill(n, "NULL", "timestamptz"),
        fill(n, "NULL", "text"),
    )
}

/// Arguments of `job_insert_many_idempotent.sql`: the insert's, then every job's idempotency
/// `key` and `window` (µs), no clock override.
fn idempotent_args(n: usize, insert_args: &str, key: &str, window: &str) -> String {
    format!(
        "{insert_args}, {}, {}, {}",
        fill(n, key, "text"),
        fill(n, window, "bigint"),
        fill(n, "NULL", "timestamptz"),
    )
}

fn id_lookup_expect() -> Expect {
    Expect {
        allowed: &[PKEY],
        required: &[PKEY],
        ordered: None,
        whole: &[],
    }
}

async fn column_statistics(client: &Client) -> i64 {
    client
        .query_one(
            "SELECT count(*) FROM pg_stats WHERE tablename = 'backlog_job' \
             AND schemaname = current_schema()",
            &[],
        )
        .await
        .unwrap()
        .get(0)
}

async fn reltuples(client: &Client) -> f32 {
    client
        .query_one(
            "SELECT reltuples FROM pg_class WHERE oid = 'backlog_job'::regclass",
            &[],
        )
        .await
        .unwrap()
        .get(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hot_plans_without_statistics() {
    let storage = test_storage().await;
    let client = storage.pool().get().await.unwrap();
    client.batch_execute(FILL).await.unwrap();
    assert_eq!(column_statistics(&client).await, 0, "never analyzed");
    assert!(reltuples(&client).await < 0.0, "never analyzed");
    check_all(&client, "never analyzed").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hot_plans_with_statistics_of_an_empty_table() {
    let storage = test_storage().await;
    let client = storage.pool().get().await.unwrap();
    client
        .batch_execute("ANALYZE backlog_job, backlog_job_dependency, backlog_queue")
        .await
        .unwrap();
    client.batch_execute(FILL).await.unwrap();
    assert_eq!(reltuples(&client).await, 0.0, "analyzed while empty");
    check_all(&client, "analyzed while empty").await;
}

/// The third situation: statistics taken on the busy table itself. Custom plans see the
/// parameters and generic plans see averages over the queues and states; both must still walk
/// the right indexes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hot_plans_with_statistics_of_a_busy_table() {
    let storage = test_storage().await;
    let client = storage.pool().get().await.unwrap();
    client.batch_execute(FILL).await.unwrap();
    client
        .batch_execute("ANALYZE backlog_job, backlog_job_dependency, backlog_queue")
        .await
        .unwrap();
    assert!(column_statistics(&client).await > 0, "analyzed");
    check_all(&client, "analyzed while busy").await;
}

/// Generic plans are cached per connection and made at a statement's first execution: a
/// server started on an empty table (a fresh install, or right after a `TRUNCATE`) plans its
/// hot statements while the table has no pages, and those plans serve the table as it grows,
/// since inserts never invalidate a cached plan. On an empty table a sequential scan looks
/// cheaper than any index probe, and a claim or an outcome write planned then scanned the whole
/// table on every later execution (seen through the ZeroMQ server at 1,000 jobs/s: the outcome
/// write's `FOR UPDATE` lookup and the claim's `UPDATE` each took 0.5–2.5 ms on a table of a few
/// thousand rows, and grow with it). Each statement is planned here exactly as `src/plan.rs`
/// runs it, on the empty table; the table is then filled and the cached plan explained again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn generic_plans_made_on_an_empty_table_serve_a_full_one() {
    let storage = test_storage().await;
    let client = storage.pool().get().await.unwrap();
    let n = 3;
    let ids = "'{1,2,3}'::bigint[]";
    let tokens = fill(n, "'\\x00'", "bytea");
    let insert_args = insert_args(n, &fill(n, "NULL", "bytea"), &fill(n, "NULL", "smallint"));
    let idempotent_args = idempotent_args(n, &insert_args, "'key'", "60000000");
    let statements = [
        (
            "fetch_fast",
            FETCH,
            "'default', 10, 'w', 30000000, NULL, false, '{}'".to_owned(),
            claim_expect(),
        ),
        (
            "fetch_limited",
            FETCH,
            "'default', 10, 'w', 30000000, NULL, true, '{}'".to_owned(),
            claim_expect(),
        ),
        (
            "finish",
            FINISH,
            finish_args(n, ids, &tokens),
            id_lookup_expect(),
        ),
        (
            "heartbeat",
            HEARTBEAT,
            format!("{ids}, {tokens}, 30000000"),
            id_lookup_expect(),
        ),
        ("insert", INSERT, insert_args, no_job_scan()),
        (
            "insert_idempotent",
            INSERT_IDEMPOTENT,
            idempotent_args,
            no_job_scan(),
        ),
        (
            "fair_claim",
            FAIR_CLAIM,
            "'fair', false, 10, '{}', 'w', 30000000, NULL".to_owned(),
            fair_expect(),
        ),
    ];
    let explain = |name: &'static str, args: String| {
        let client = &client;
        async move {
            client.batch_execute(ENTER).await.unwrap();
            let json = simple_text(
                client,
                &format!("EXPLAIN (FORMAT JSON) EXECUTE {name} ({args})"),
            )
            .await;
            client.batch_execute(LEAVE).await.unwrap();
            let parsed: Value = serde_json::from_str(&json).unwrap();
            parsed[0]["Plan"].clone()
        }
    };
    let pages: i64 = client
        .query_one("SELECT pg_relation_size('backlog_job')", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(pages, 0, "the table starts empty");
    for (name, sql, args, _) in &statements {
        client
            .batch_execute(&format!("PREPARE {name} AS {sql}"))
            .await
            .unwrap();
        explain(name, args.clone()).await;
    }
    client.batch_execute(FILL).await.unwrap();
    let mut problems = Vec::new();
    for (name, _, args, expect) in &statements {
        let plan = explain(name, args.clone()).await;
        let found = violations(&plan, expect);
        if !found.is_empty() {
            problems.push(format!("{name}: {}\n{plan:#}", found.join(", ")));
        }
    }
    assert!(
        problems.is_empty(),
        "generic plans made on an empty table: {} bad\n\n{}",
        problems.len(),
        problems.join("\n\n")
    );
}

/// The runners' queue-depth count reads the unfinished jobs through their partial indexes, not
/// the history: 200,000 finished jobs beside a few hundred unfinished ones, never analyzed and
/// analyzed. (Where unfinished jobs are most of the table a sequential scan is as good, and
/// the planner may take one.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn depth_count_reads_no_history() {
    let storage = test_storage().await;
    let client = storage.pool().get().await.unwrap();
    client
        .batch_execute(
            "INSERT INTO backlog_job (state, queue, kind, args, max_attempts, attempt, finalized_at)
             SELECT 'completed', 'default', 'k', '{}', 25, 1, now()
             FROM generate_series(1, 200000);
             INSERT INTO backlog_job (state, queue, kind, args, max_attempts, scheduled_at,
                 lease_expires_at)
             SELECT (ARRAY['available', 'scheduled', 'retryable', 'running'])[g % 4 + 1]
                     ::backlog_job_state,
                 'default', 'k', '{}', 25, now() + interval '1 hour',
                 CASE WHEN g % 4 = 3 THEN now() + interval '5 minutes' END
             FROM generate_series(0, 399) AS g;",
        )
        .await
        .unwrap();
    let depth = || Expect {
        allowed: &[FETCH_INDEX, "backlog_job_pending", "backlog_job_lease"],
        required: &[FETCH_INDEX, "backlog_job_pending", "backlog_job_lease"],
        ordered: None,
        whole: &[FETCH_INDEX, "backlog_job_pending", "backlog_job_lease"],
    };
    let mut problems = check(&client, "count_unfinished", COUNT_UNFINISHED, "", depth()).await;
    client.batch_execute("ANALYZE backlog_job").await.unwrap();
    problems.extend(
        check(
            &client,
            "count_unfinished_analyzed",
            COUNT_UNFINISHED,
            "",
            depth(),
        )
        .await,
    );
    assert!(problems.is_empty(), "{}", problems.join("\n\n"));
}

/// A batch of duplicates, some replacing and some skipping: each conflict finds its own row's
/// choice (looked up by key, not by scanning the batch).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn insert_batch_of_duplicates_replaces_and_skips_per_row() {
    let storage = test_storage().await;
    let later = chrono::Utc::now() + chrono::Duration::hours(1);
    let job = |i: usize, n: i32, on_conflict: OnConflict| {
        let mut job = JobInsert::new("q", "k", json!({ "n": n }));
        job.unique = Some(UniqueInsert {
            key: format!("key-{i}").into_bytes(),
            states: JobState::mask(&[JobState::Available, JobState::Scheduled]),
            on_conflict,
        });
        job
    };
    let first: Vec<_> = (0..1000)
        .map(|i| {
            let mut job = job(i, 1, OnConflict::Skip);
            job.scheduled_at = Some(later);
            job
        })
        .collect();
    let first = storage
        .job_insert_many(JobInsertManyParams { jobs: first })
        .await
        .unwrap();
    let second: Vec<_> = (0..1000)
        .map(|i| {
            let on_conflict = if i % 2 == 0 {
                OnConflict::Replace
            } else {
                OnConflict::Skip
            };
            job(i, 2, on_conflict)
        })
        .collect();
    let second = storage
        .job_insert_many(JobInsertManyParams { jobs: second })
        .await
        .unwrap();
    for (i, (a, b)) in first.iter().zip(&second).enumerate() {
        assert_eq!((b.id, b.duplicate), (a.id, true), "row {i}");
        let row = storage.job_get(a.id).await.unwrap().unwrap();
        if i % 2 == 0 {
            assert_eq!(
                (row.state, &row.args),
                (JobState::Available, &json!({ "n": 2 }))
            );
        } else {
            assert_eq!(
                (row.state, &row.args),
                (JobState::Scheduled, &json!({ "n": 1 }))
            );
            assert!(row.scheduled_at > chrono::Utc::now() + chrono::Duration::minutes(30));
        }
    }
}
