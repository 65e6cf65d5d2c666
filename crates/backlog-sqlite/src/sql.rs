//! The SQL of every storage method, one file per method under `sql/`, named after it.

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
    MIGRATION_TABLE_EXISTS => "migration_table_exists.sql",
    MIGRATION_LIST => "migration_list.sql",
    MIGRATION_INSERT => "migration_insert.sql",
    MIGRATION_DELETE => "migration_delete.sql",
    JOB_INSERT_MANY => "job_insert_many.sql",
    JOB_INSERT_MANY_FIND_UNIQUE => "job_insert_many_find_unique.sql",
    JOB_INSERT_MANY_REPLACE => "job_insert_many_replace.sql",
    JOB_CANCEL => "job_cancel.sql",
    JOB_CANCEL_BY_FILTER => "job_cancel_by_filter.sql",
    JOB_RETRY_BY_FILTER => "job_retry_by_filter.sql",
    JOB_FETCH_AVAILABLE => "job_fetch_available.sql",
    JOB_FINISH_MANY => "job_finish_many.sql",
    JOB_FINISH_MANY_APPLIED => "job_finish_many_applied.sql",
    JOB_HEARTBEAT_MANY => "job_heartbeat_many.sql",
    JOB_SCHEDULE => "job_schedule.sql",
    JOB_NEXT_SCHEDULED_AT => "job_next_scheduled_at.sql",
    JOB_RESCUE => "job_rescue.sql",
    JOB_GET => "job_get.sql",
    JOB_LIST => "job_list.sql",
    JOB_COUNT_BY_STATE => "job_count_by_state.sql",
    JOB_CANCEL_MANY_BEFORE => "job_cancel_many_before.sql",
    JOB_CANCEL_MANY => "job_cancel_many.sql",
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
}
