-- $1 queue, $2 whether to set max_running, $3 max_running, $4 whether to set the rate limit,
-- $5 rate_max, $6 rate_period_us (NULLs remove a limit), $7 whether to set
-- partition_max_running, $8 partition_max_running (a per-key limit makes the queue fair).
INSERT INTO backlog_queue AS queue (
    name, max_running, rate_max, rate_period_us, partition_max_running, fair
)
VALUES ($1::text, $3::integer, $5::integer, $6::bigint, $8::integer, $8::integer IS NOT NULL)
ON CONFLICT (name) DO UPDATE
SET max_running = CASE WHEN $2::boolean THEN excluded.max_running ELSE queue.max_running END,
    partition_max_running = CASE
        WHEN $7::boolean THEN excluded.partition_max_running
        ELSE queue.partition_max_running
    END,
    fair = queue.fair OR ($7::boolean AND excluded.partition_max_running IS NOT NULL),
    rate_max = CASE WHEN $4::boolean THEN excluded.rate_max ELSE queue.rate_max END,
    rate_period_us = CASE
        WHEN $4::boolean THEN excluded.rate_period_us
        ELSE queue.rate_period_us
    END,
    updated_at = now()
