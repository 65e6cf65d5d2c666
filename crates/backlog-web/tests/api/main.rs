//! The HTTP API and dashboard end to end through `tower::ServiceExt::oneshot`, each test on both
//! backends (a fresh SQLite file, and a fresh PostgreSQL schema).

mod actions;
mod pages;
mod reads;
mod security;
mod support;

macro_rules! on_both_backends {
    ($($module:ident :: $name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    crate::$module::$name(crate::support::sqlite().await).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    crate::$module::$name(crate::support::postgres().await).await;
                }
            )*
        }
    };
}

on_both_backends!(
    reads::list_filters_and_pages,
    reads::bad_filters_are_400_with_a_reason,
    reads::job_detail_has_history,
    reads::overview_counts_and_history,
    reads::workers_lists_running_runners,
    reads::health_and_metrics,
    reads::workflows_and_batches,
    actions::retry_cancel_delete_by_ids,
    actions::actions_by_filter_are_capped,
    actions::queues_pause_resume_and_limits,
    actions::cron_toggle_trigger_edit,
    actions::enqueue_is_off_unless_enabled,
    actions::remote_workers_are_commanded_through_the_server,
    security::basic_auth_and_read_only_role,
    security::authorization_hook,
    security::cross_site_writes_are_refused,
    security::security_headers_and_escaping,
    security::redaction_hook_applies_everywhere,
    pages::every_page_renders,
    pages::prefix_mounts_everything,
);
