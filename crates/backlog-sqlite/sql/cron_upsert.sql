-- The pending tick is kept when the timing (spec and time zone) is unchanged.
INSERT INTO backlog_cron AS cron (
    name, kind, args, queue, priority, max_attempts, tags, spec, timezone, missed_policy,
    enabled, next_run_at, created_at, updated_at
)
VALUES (
    :name, :kind, :args, :queue, :priority, :max_attempts, :tags, :spec, :timezone,
    :missed_policy, :enabled, :next_run_at, :now, :now
)
ON CONFLICT (name) DO UPDATE
SET kind = excluded.kind,
    args = excluded.args,
    queue = excluded.queue,
    priority = excluded.priority,
    max_attempts = excluded.max_attempts,
    tags = excluded.tags,
    spec = excluded.spec,
    timezone = excluded.timezone,
    missed_policy = excluded.missed_policy,
    enabled = excluded.enabled,
    next_run_at = CASE WHEN cron.spec = excluded.spec AND cron.timezone = excluded.timezone
        THEN cron.next_run_at ELSE excluded.next_run_at END,
    updated_at = excluded.updated_at
RETURNING name, kind, args, queue, priority, max_attempts, tags, spec, timezone, missed_policy,
    enabled, next_run_at, last_run_at, created_at, updated_at
