-- Executed once per job inside one transaction. A NULL scheduled_at means now.
INSERT INTO backlog_job (
    state, queue, kind, args, priority, max_attempts, scheduled_at, created_at, tags, metadata
) VALUES (
    CASE WHEN coalesce(:scheduled_at, :now) > :now THEN 'scheduled' ELSE 'available' END,
    :queue, :kind, :args, :priority, :max_attempts, coalesce(:scheduled_at, :now), :now, :tags,
    :metadata
)
RETURNING id, state
