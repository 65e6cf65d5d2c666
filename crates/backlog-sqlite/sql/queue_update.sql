-- :set_max_running / :set_rate / :set_partition_max say which settings change; NULL values
-- remove a limit. A per-key limit makes the queue fair.
INSERT INTO backlog_queue (
    name, max_running, rate_max, rate_period_us, partition_max_running, fair, created_at,
    updated_at
)
VALUES (
    :queue, :max_running, :rate_max, :rate_period_us, :partition_max_running,
    :partition_max_running IS NOT NULL, :now, :now
)
ON CONFLICT (name) DO UPDATE
SET max_running = CASE WHEN :set_max_running THEN excluded.max_running ELSE max_running END,
    partition_max_running = CASE
        WHEN :set_partition_max THEN excluded.partition_max_running
        ELSE partition_max_running
    END,
    fair = fair OR (:set_partition_max AND excluded.partition_max_running IS NOT NULL),
    rate_max = CASE WHEN :set_rate THEN excluded.rate_max ELSE rate_max END,
    rate_period_us = CASE WHEN :set_rate THEN excluded.rate_period_us ELSE rate_period_us END,
    updated_at = excluded.updated_at
