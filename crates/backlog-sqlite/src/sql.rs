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
    JOB_FETCH_AVAILABLE => "job_fetch_available.sql",
    JOB_FINISH_MANY => "job_finish_many.sql",
    JOB_HEARTBEAT_MANY => "job_heartbeat_many.sql",
    JOB_SCHEDULE => "job_schedule.sql",
    JOB_NEXT_SCHEDULED_AT => "job_next_scheduled_at.sql",
    JOB_RESCUE => "job_rescue.sql",
    JOB_GET => "job_get.sql",
    JOB_LIST => "job_list.sql",
    JOB_COUNT_BY_STATE => "job_count_by_state.sql",
    JOB_CANCEL_MANY_BEFORE => "job_cancel_many_before.sql",
    JOB_CANCEL_MANY => "job_cancel_many.sql",
    JOB_RETRY_MANY => "job_retry_many.sql",
    JOB_DELETE_FINALIZED => "job_delete_finalized.sql",
    LEADER_ATTEMPT_ELECT => "leader_attempt_elect.sql",
    LEADER_ATTEMPT_REELECT => "leader_attempt_reelect.sql",
    LEADER_RESIGN => "leader_resign.sql",
    LEADER_GET => "leader_get.sql",
    CRON_UPSERT => "cron_upsert.sql",
    CRON_DELETE => "cron_delete.sql",
    CRON_LIST => "cron_list.sql",
    CRON_TICK => "cron_tick.sql",
    TRUNCATE_ALL => "truncate_all.sql",
}
