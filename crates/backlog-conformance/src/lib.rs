//! The conformance suite of Backlog's storage seam: one set of behavioural tests that every
//! backend runs against a real database.
//!
//! A backend wires it in with one macro call in `tests/conformance.rs`, giving a factory that
//! returns a fresh, migrated, isolated storage (its own schema or file) for each test, so the
//! tests run in parallel:
//!
//! ```ignore
//! async fn harness() -> backlog_sqlite::testing::TestStorage {
//!     backlog_sqlite::testing::test_storage().await
//! }
//! backlog_conformance::suite!(harness);
//! ```
//!
//! The backend's dev-dependencies need `tokio` with the `macros` and `rt-multi-thread`
//! features. A new storage behaviour gets a test here, never a backend-specific one.

use std::sync::Arc;

use backlog_storage::Storage;

pub mod admin;
pub mod batch;
pub mod cancel_unique;
pub mod cron;
pub mod dashboard;
pub mod events;
pub mod fair;
pub mod fencing;
pub mod fetch;
pub mod finish;
pub mod flow;
pub mod idempotency;
pub mod insert;
pub mod leader;
pub mod maintenance;
pub mod retention;
mod support;
pub mod workflow;

pub use backlog_storage;

/// What a test factory returns: something that holds an isolated storage alive (and may clean
/// it up on drop).
pub trait Harness: Send + 'static {
    /// The storage under test.
    fn storage(&self) -> Arc<dyn Storage>;
}

impl Harness for Arc<dyn Storage> {
    fn storage(&self) -> Arc<dyn Storage> {
        self.clone()
    }
}

/// Expands to one `#[tokio::test]` per conformance test, grouped in modules named after the
/// suite's modules. `$factory` is an async fn returning a [`Harness`].
#[macro_export]
macro_rules! suite {
    ($factory:path) => {
        async fn __backlog_conformance_harness() -> impl $crate::Harness {
            $factory().await
        }
        $crate::suite!(@module insert: [
            returns_ids_in_input_order, empty_batch_is_a_no_op, future_jobs_are_scheduled,
            stores_every_field, args_round_trip_exactly, large_batch, stores_job_options,
            a_failing_job_fails_the_whole_batch
        ]);
        $crate::suite!(@module fetch: [
            claims_highest_priority_then_oldest, marks_running_with_lease_and_worker,
            claimed_rows_are_the_stored_rows, respects_queue_and_max, claims_only_the_kinds_asked_for, skips_jobs_not_available, concurrent_fetchers_never_share_a_job,
            insert_and_fetch_claims_for_the_worker, insert_and_fetch_honours_a_paused_queue
        ]);
        $crate::suite!(@module finish: [
            completed, retry_records_error_and_delay, discard_and_cancel_are_final,
            snooze_does_not_spend_an_attempt, is_fenced_on_state_and_token, empty_batch_is_a_no_op,
            mixed_batch
        ]);
        $crate::suite!(@module maintenance: [
            heartbeat_renews_lease_and_reports_lost, schedule_promotes_due_jobs,
            rescue_expired_leases, delete_finalized_respects_cutoffs
        ]);
        $crate::suite!(@module fair: [
            claims_rotate_over_keys, the_cursor_moves_over_many_keys, per_key_limit_holds,
            a_short_claim_is_topped_up_in_turn_order,
            per_key_limit_holds_for_concurrent_fetchers, a_limit_set_while_jobs_run_counts_them,
            settings_changed_after_claims_hold
        ]);
        $crate::suite!(@module admin: [
            get_missing_is_none, list_filters_and_paginates, count_by_state,
            count_unfinished_leaves_out_finished_jobs,
            cancel_only_waiting_jobs, retry_revives_finalized_jobs,
            migrations_are_applied, now_is_close_to_local_clock,
            delete_by_filter_spares_running_and_workflow_jobs, reschedule_moves_waiting_jobs
        ]);
        $crate::suite!(@module retention: [
            rescue_discards_poison_jobs, delete_finalized_can_archive, purge_deletes_only_finalized
        ]);
        $crate::suite!(@module cancel_unique: [
            cancel_one_checks_kind_and_state, cancel_requests_running_jobs,
            cancel_and_retry_by_filter, unique_skip_and_states, unique_replace,
            fingerprint_filter, cancel_requested_poll
        ]);
        $crate::suite!(@module flow: [
            pause_stops_fetch_and_resume_restores,
            max_running_never_exceeded_by_concurrent_fetchers, queue_rate_limit_applies_at_fetch,
            rate_limit_take_accounts_tokens, result_and_progress_are_stored_and_fenced,
            queue_list_reports_settings_and_counts
        ]);
        $crate::suite!(@module leader: [
            elect_once_until_expiry, reelect_extends_only_the_holder, resign_frees_and_signals
        ]);
        $crate::suite!(@module cron: [
            upsert_list_delete, tick_is_compare_and_set, concurrent_ticks_insert_one_job,
            changes_wake_subscribers
        ]);
        $crate::suite!(@module dashboard: [
            search_filters_and_paginates, throughput_counts_finalized_jobs,
            queue_latency_reports_oldest_available, workers_register_refresh_and_leave
        ]);
        $crate::suite!(@module fencing: [
            every_claim_draws_a_new_token, lost_claim_fences_the_older_holder,
            rescue_fences_the_stalled_holder, heartbeat_after_own_outcome_is_not_a_loss,
            rescued_job_keeps_its_place, zero_delay_keeps_its_place,
            run_after_counts_on_the_database_clock
        ]);
        $crate::suite!(@module events: [
            insert_wakes_subscribers, schedule_wakes_subscribers
        ]);
        $crate::suite!(@module idempotency: [
            repeated_key_returns_the_first_job, batch_folds_keys_and_rejects_bad_ones,
            key_expires_after_its_window, prune_deletes_expired_keys,
            concurrent_inserts_of_one_key_insert_one_job
        ]);
        $crate::suite!(@module workflow: [
            dependants_wait_for_their_dependencies, invalid_workflows_store_nothing,
            failure_cancels_or_runs_dependants, release_wakes_subscribers,
            concurrent_last_dependencies_release_once, list_inspect_and_retry, fan_out_fan_in,
            every_finalizing_path_settles, prune_forgets_finished_groups,
            keyed_insert_is_stored_once, concurrent_keyed_inserts_store_one
        ]);
        $crate::suite!(@module batch: [
            callback_once_after_seal_and_last_member, seal_after_members_finished_fires,
            success_callback_skipped_on_failure, nested_batches, sealed_batch_refuses_members,
            concurrent_last_members_enqueue_one_callback, cancelled_member_counts,
            keyed_creation_and_members_are_stored_once
        ]);
    };
    (@module $module:ident: [$($name:ident),* $(,)?]) => {
        mod $module {
            $(
                #[::tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let harness = super::__backlog_conformance_harness().await;
                    $crate::$module::$name($crate::Harness::storage(&harness)).await;
                }
            )*
        }
    };
}
