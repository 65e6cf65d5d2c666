-- Puts the connection back to the pool's plan_cache_mode and enable_seqscan after
-- plan_generic_enter.sql.
SELECT set_config('plan_cache_mode', 'force_custom_plan', false),
    set_config('enable_seqscan', 'on', false)
