-- Plans the next statement on this connection generically (see "Why some statements run with
-- generic plans" in src/lib.rs). Sent pipelined right before it; plan_generic_leave.sql right
-- after it puts the connection back to custom plans.
-- A generic plan is made once per connection, at the statement's first execution, and serves
-- every later one: made while the job table is empty (a fresh install, a TRUNCATE), a
-- sequential scan looks cheaper than any index probe and would then scan the table on every
-- call as it grows. Sequential scans are therefore off while these statements are planned;
-- every one of them is shaped to be index-driven (tests/plans.rs).
SELECT set_config('plan_cache_mode', 'force_generic_plan', false),
    set_config('enable_seqscan', 'off', false)
