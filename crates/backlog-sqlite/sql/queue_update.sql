-- :set_max_running / :set_rate say which settings change; NULL values remove a limit.
INSERT INTO backlog_queue (name, max_running, rate_max, rate_period_us, created_at, updated_at)
VALUES (:queue, :max_running, :rate_max, :rate_period_us, :now, :now)
ON CONFLICT (name) DO UPDATE
SET max_running = CASE WHEN :set_max_running THEN excluded.max_running ELSE max_running END,
    rate_max = CASE WHEN :set_rate THEN excluded.rate_max ELSE rate_max END,
    rate_period_us = CASE WHEN :set_rate THEN excluded.rate_period_us ELSE rate_period_us END,
    updated_at = excluded.updated_at
