-- Puts the connection back to the pool's plan_cache_mode after plan_generic_enter.sql.
SELECT set_config('plan_cache_mode', 'force_custom_plan', false)
