//! Every SQL statement, one file each under `sql/`: named after the storage method that runs it,
//! with a suffix for a method's further statements (`job_fetch_available_settings.sql`), or
//! after what it does for several methods (`fair_key_next.sql`, `batch_count.sql`).

macro_rules! sql {
    ($($name:ident => $file:literal,)*) => {
        $(
            #[doc = concat!("`sql/", $file, "`")]
            pub(crate) const $name: &str = include_str!(concat!("../sql/", $file));
        )*
    };
}

sql! {
    MIGRATION_TABLE_CREATE => "migration_table_create.sql",
    WATCH_DATA_VERSION => "watch_data_version.sql",
    WATCH_MAX_ID => "watch_max_id.sql",
    WATCH_QUEUES => "watch_queues.sql",
    WATCH_MAX_EVENT => "watch_max_event.sql",
    WATCH_EVENTS => "watch_events.sql",
    EVENT_INSERT => "event_insert.sql",
    EVENT_PRUNE => "event_prune.sql",
    MIGRATION_TABLE_EXISTS => "migration_table_exists.sql",
    MIGRATION_LIST => "migration_list.sql",
    MIGRATION_INSERT => "migration_insert.sql",
    MIGRATION_DELETE => "migration_delete.sql",
    JOB_INSERT_MANY_FIND_UNIQUE => "job_insert_many_find_unique.sql",
    JOB_INSERT_MANY_REPLACE => "job_insert_many_replace.sql",
    IDEMPOTENCY_FIND => "idempotency_find.sql",
    IDEMPOTENCY_STORE => "idempotency_store.sql",
    IDEMPOTENCY_PRUNE => "idempotency_prune.sql",
    JOB_CANCEL => "job_cancel.sql",
    JOB_CANCEL_BY_FILTER => "job_cancel_by_filter.sql",
    JOB_RETRY_BY_FILTER => "job_retry_by_filter.sql",
    JOB_DELETE_BY_FILTER => "job_delete_by_filter.sql",
    QUEUE_MARK_FAIR => "queue_mark_fair.sql",
    FAIR_KEY_NEXT => "fair_key_next.sql",
    FAIR_KEY_RUNNING => "fair_key_running.sql",
    FAIR_KEY_JOBS => "fair_key_jobs.sql",
    FAIR_UNKEYED_JOBS => "fair_unkeyed_jobs.sql",
    JOB_CLAIM_IDS => "job_claim_ids.sql",
    QUEUE_CURSOR_SET => "queue_cursor_set.sql",
    JOB_RESCHEDULE_BY_FILTER => "job_reschedule_by_filter.sql",
    JOB_FETCH_AVAILABLE => "job_fetch_available.sql",
    JOB_FETCH_AVAILABLE_TOKENS => "job_fetch_available_tokens.sql",
    JOB_FETCH_AVAILABLE_CLAIM => "job_fetch_available_claim.sql",
    JOB_DEPENDANTS_SETTLE => "job_dependants_settle.sql",
    JOB_DEPENDENCY_RESULTS => "job_dependency_results.sql",
    JOB_BATCH_SET => "job_batch_set.sql",
    BATCH_COUNT => "batch_count.sql",
    BATCH_FINISH => "batch_finish.sql",
    BATCH_CALLBACK_SET => "batch_callback_set.sql",
    BATCH_CREATE => "batch_create.sql",
    BATCH_GROW => "batch_grow.sql",
    BATCH_SEAL => "batch_seal.sql",
    BATCH_GET => "batch_get.sql",
    BATCH_LIST => "batch_list.sql",
    WORKFLOW_CREATE => "workflow_create.sql",
    WORKFLOW_FIND_KEY => "workflow_find_key.sql",
    BATCH_FIND_KEY => "batch_find_key.sql",
    WORKFLOW_CREATE_JOBS => "workflow_create_jobs.sql",
    WORKFLOW_CREATE_EDGES => "workflow_create_edges.sql",
    WORKFLOW_LIST => "workflow_list.sql",
    WORKFLOW_JOBS => "workflow_jobs.sql",
    WORKFLOW_RETRY => "workflow_retry.sql",
    WORKFLOW_PRUNE_WINDOW => "workflow_prune_window.sql",
    WORKFLOW_PRUNE => "workflow_prune.sql",
    WORKFLOW_PRUNE_EDGES => "workflow_prune_edges.sql",
    BATCH_PRUNE_WINDOW => "batch_prune_window.sql",
    BATCH_PRUNE => "batch_prune.sql",
    JOB_FINISH_MANY_APPLIED => "job_finish_many_applied.sql",
    JOB_HEARTBEAT_MANY => "job_heartbeat_many.sql",
    JOB_SCHEDULE => "job_schedule.sql",
    JOB_NEXT_SCHEDULED_AT => "job_next_scheduled_at.sql",
    JOB_RESCUE => "job_rescue.sql",
    JOB_GET => "job_get.sql",
    JOB_LIST => "job_list.sql",
    JOB_COUNT_BY_STATE => "job_count_by_state.sql",
    JOB_COUNT_UNFINISHED => "job_count_unfinished.sql",
    JOB_DELETE_FINALIZED => "job_delete_finalized.sql",
    JOB_ARCHIVE_ONE => "job_archive_one.sql",
    JOB_DELETE_ONE => "job_delete_one.sql",
    JOB_PURGE_MANY => "job_purge_many.sql",
    JOB_ARCHIVE_GET => "job_archive_get.sql",
    JOB_CANCEL_REQUESTED => "job_cancel_requested.sql",
    LEADER_ATTEMPT_ELECT => "leader_attempt_elect.sql",
    LEADER_ATTEMPT_REELECT => "leader_attempt_reelect.sql",
    LEADER_RESIGN => "leader_resign.sql",
    LEADER_GET => "leader_get.sql",
    CRON_UPSERT => "cron_upsert.sql",
    CRON_DELETE => "cron_delete.sql",
    CRON_LIST => "cron_list.sql",
    CRON_TICK => "cron_tick.sql",
    TRUNCATE_ALL => "truncate_all.sql",
    JOB_FETCH_AVAILABLE_SETTINGS => "job_fetch_available_settings.sql",
    JOB_FETCH_AVAILABLE_RUNNING => "job_fetch_available_running.sql",
    JOB_FETCH_AVAILABLE_REFUND => "job_fetch_available_refund.sql",
    RATE_LIMIT_GET => "rate_limit_get.sql",
    RATE_LIMIT_TAKE => "rate_limit_take.sql",
    JOB_PROGRESS_SET => "job_progress_set.sql",
    QUEUE_PAUSE => "queue_pause.sql",
    QUEUE_RESUME => "queue_resume.sql",
    QUEUE_UPDATE => "queue_update.sql",
    QUEUE_LIST => "queue_list.sql",
    QUEUE_GET => "queue_get.sql",
    JOB_SEARCH => "job_search.sql",
    JOB_THROUGHPUT => "job_throughput.sql",
    QUEUE_LATENCY => "queue_latency.sql",
    WORKER_HEARTBEAT => "worker_heartbeat.sql",
    WORKER_LIST => "worker_list.sql",
    WORKER_DELETE => "worker_delete.sql",
    WRITER_SAVEPOINT => "writer_savepoint.sql",
    WRITER_RELEASE => "writer_release.sql",
    WRITER_ROLLBACK_TO => "writer_rollback_to.sql",
}

/// `sql/job_finish_many.sql` + `sql/job_finish_many_plain.sql`: an outcome of a job of no
/// workflow or batch, without RETURNING.
pub(crate) const JOB_FINISH_MANY_PLAIN: &str = concat!(
    include_str!("../sql/job_finish_many.sql"),
    include_str!("../sql/job_finish_many_plain.sql")
);
/// `sql/job_finish_many.sql` + `sql/job_finish_many_settle.sql`: any outcome, returning a row
/// when it applied that says whether to settle.
pub(crate) const JOB_FINISH_MANY_SETTLE: &str = concat!(
    include_str!("../sql/job_finish_many.sql"),
    include_str!("../sql/job_finish_many_settle.sql")
);

/// The most jobs one `INSERT` of [`job_insert_many`] (64 × 17 bound values) or
/// [`job_insert_many_plain`] (1 + 64 × 7) holds, well under SQLite's limit of 32,766.
pub(crate) const JOB_INSERT_MANY_ROWS: usize = 64;

/// The statements of [`job_insert_many`] or [`job_insert_many_plain`], one per power of two
/// up to [`JOB_INSERT_MANY_ROWS`] rows: the fewest distinct statements (seven) that insert any
/// number of jobs in few statements.
type Sizes = [String; JOB_INSERT_MANY_ROWS.trailing_zeros() as usize + 1];

/// `head` with `row` (its comment lines left out) appended `rows` times, comma-separated, for
/// `rows` a power of two up to [`JOB_INSERT_MANY_ROWS`], built once into `cache`.
fn multi_row(
    cache: &'static std::sync::OnceLock<Sizes>,
    head: &str,
    row: &str,
    rows: usize,
) -> &'static str {
    assert!(
        rows.is_power_of_two() && rows <= JOB_INSERT_MANY_ROWS,
        "multi-row insert of {rows} rows"
    );
    let statements = cache.get_or_init(|| {
        let row: String = row.lines().filter(|line| !line.starts_with("--")).collect();
        std::array::from_fn(|size| format!("{head}{}", vec![row.as_str(); 1 << size].join(",\n")))
    });
    &statements[rows.trailing_zeros() as usize]
}

/// `sql/job_insert_many.sql` with `sql/job_insert_many_row.sql` appended `rows` times.
pub(crate) fn job_insert_many(rows: usize) -> &'static str {
    static STATEMENTS: std::sync::OnceLock<Sizes> = std::sync::OnceLock::new();
    multi_row(
        &STATEMENTS,
        include_str!("../sql/job_insert_many.sql"),
        include_str!("../sql/job_insert_many_row.sql"),
        rows,
    )
}

/// `sql/job_insert_many_plain.sql` with `sql/job_insert_many_plain_row.sql` appended `rows`
/// times.
pub(crate) fn job_insert_many_plain(rows: usize) -> &'static str {
    static STATEMENTS: std::sync::OnceLock<Sizes> = std::sync::OnceLock::new();
    multi_row(
        &STATEMENTS,
        include_str!("../sql/job_insert_many_plain.sql"),
        include_str!("../sql/job_insert_many_plain_row.sql"),
        rows,
    )
}
