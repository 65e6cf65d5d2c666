//! Runtime tests: the client and the worker runtime end to end, each test on both backends
//! (a fresh SQLite file, and a fresh PostgreSQL schema).

mod cases;
mod support;

macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let storage = crate::support::sqlite().await;
                    crate::cases::$name(storage).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let storage = crate::support::postgres().await;
                    crate::cases::$name(storage).await;
                }
            )*
        }
    };
}

on_both_backends!(
    runs_jobs_to_completion,
    retries_with_backoff_then_succeeds,
    discards_after_max_attempts,
    panic_is_recorded_and_worker_survives,
    snooze_does_not_spend_an_attempt,
    worker_can_discard_or_cancel,
    higher_priority_runs_first,
    scheduled_jobs_run_on_time,
    per_queue_concurrency_limit,
    process_wide_concurrency_limit,
    no_double_delivery_across_runners,
    graceful_shutdown_lets_jobs_finish,
    shutdown_deadline_hands_jobs_back,
    timeout_fails_the_attempt,
    unknown_kind_is_retried_with_a_clear_error,
    malformed_args_are_discarded,
    enqueue_rejects_bad_input_and_inserts_nothing,
    stalled_job_is_rescued_and_run,
    wakes_on_insert_without_polling,
    records_who_ran_and_how_long,
    per_job_backoff_overrides_the_kind,
);

mod cancellation;
mod transactions;
