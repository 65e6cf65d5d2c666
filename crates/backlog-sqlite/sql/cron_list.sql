SELECT name, kind, args, queue, priority, max_attempts, tags, spec, timezone, missed_policy,
    enabled, next_run_at, last_run_at, created_at, updated_at
FROM backlog_cron
ORDER BY name
