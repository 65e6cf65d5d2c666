//! Leader election and periodic jobs end to end, each test on both backends (a fresh SQLite
//! file, and a fresh PostgreSQL schema).

mod cases;

macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let storage: crate::cases::Db = std::sync::Arc::new(
                        backlog::sqlite::testing::test_storage()
                            .await
                            .expect("sqlite test storage"),
                    );
                    crate::cases::$name(storage).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let storage: crate::cases::Db =
                        std::sync::Arc::new(backlog::postgres::testing::test_storage().await);
                    crate::cases::$name(storage).await;
                }
            )*
        }
    };
}

on_both_backends!(
    exactly_one_leader_and_prompt_hand_over,
    no_maintenance_means_never_leader,
    cron_one_job_per_tick_across_runners_and_leader_change,
    enqueuer_follows_the_clock_it_is_given,
    missed_tick_policies,
    changed_schedule_recomputes_next_run,
);
