-- The queue's settings, read inside the writer's transaction before a fetch: the single writer
-- serializes fetches, so the limits computed from them hold until the claim commits.
SELECT paused_at IS NOT NULL AS paused, max_running, rate_max, rate_period_us, fair,
    partition_max_running, partition_cursor
FROM backlog_queue
WHERE name = :queue
