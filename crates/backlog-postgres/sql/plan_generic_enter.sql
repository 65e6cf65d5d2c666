-- Plans the next statement on this connection generically (see "Why some statements run with
-- generic plans" in src/lib.rs). Sent pipelined right before it; plan_generic_leave.sql right
-- after it puts the connection back to custom plans.
SELECT set_config('plan_cache_mode', 'force_generic_plan', false)
