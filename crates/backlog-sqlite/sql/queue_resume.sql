UPDATE backlog_queue
SET paused_at = NULL,
    updated_at = :now
WHERE name = :queue AND paused_at IS NOT NULL
