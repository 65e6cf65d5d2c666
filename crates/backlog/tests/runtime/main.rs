//! Runtime tests: the client and the worker runtime end to end, each test on both backends
//! (a fresh SQLite file, and a fresh PostgreSQL schema).

mod cases;
mod faulty;
mod fencing_cases;
mod lease_cases;
mod resilience_cases;
mod retention_cases;
mod support;
mod workflow_cases;

macro_rules! on_both_backends {
    ($($module:ident :: $name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let storage = crate::support::sqlite().await;
                    crate::$module::$name(storage).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let storage = crate::support::postgres().await;
                    crate::$module::$name(storage).await;
                }
            )*
        }
    };
}

on_both_backends!(
    cases::runs_jobs_to_completion,
    cases::retries_with_backoff_then_succeeds,
    cases::discards_after_max_attempts,
    cases::panic_is_recorded_and_worker_survives,
    cases::snooze_does_not_spend_an_attempt,
    cases::worker_can_discard_or_cancel,
    cases::higher_priority_runs_first,
    cases::scheduled_jobs_run_on_time,
    cases::per_queue_concurrency_limit,
    cases::process_wide_concurrency_limit,
    cases::no_double_delivery_across_runners,
    cases::graceful_shutdown_lets_jobs_finish,
    cases::shutdown_deadline_hands_jobs_back,
    cases::timeout_fails_the_attempt,
    cases::unknown_kind_is_retried_with_a_clear_error,
    cases::malformed_args_are_discarded,
    cases::enqueue_rejects_bad_input_and_inserts_nothing,
    cases::stalled_job_is_rescued_and_run,
    cases::wakes_on_insert_without_polling,
    cases::records_who_ran_and_how_long,
    cases::per_job_backoff_overrides_the_kind,
    cases::claimed_ahead_jobs_wait_and_are_handed_back,
    cases::backoff_falls_back_from_queue_to_runner,
    fencing_cases::retried_outcome_is_already_applied,
    fencing_cases::heartbeat_racing_an_outcome_is_no_loss,
    fencing_cases::retried_enqueue_with_the_same_key_returns_the_job,
    retention_cases::cleaner_archives_finished_jobs,
    retention_cases::dead_letters_can_be_listed_retried_and_purged,
    retention_cases::per_job_timeout_overrides_the_kind,
    retention_cases::expired_jobs_are_discarded_not_run,
    lease_cases::heartbeats_keep_a_long_job_alive,
    lease_cases::per_kind_rate_limit_spaces_starts,
    retention_cases::cleaner_forgets_expired_idempotency_keys,
    workflow_cases::diamond_runs_in_order_and_reads_results,
    workflow_cases::bad_graphs_are_refused,
    workflow_cases::batch_callback_runs_with_counts,
    workflow_cases::cleaner_sweeps_finished_workflows_in_windows,
);

mod cancellation;
mod cross_process;
mod transactions;
