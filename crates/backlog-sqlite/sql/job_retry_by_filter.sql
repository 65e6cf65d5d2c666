-- :ids is a JSON array of ids or NULL for any; :states a JSON array of states (never running or
-- available). A job that used all its attempts gets one more.
UPDATE backlog_job
SET state = 'available',
    scheduled_at = :now,
    finalized_at = NULL,
    cancel_requested_at = NULL,
    max_attempts = CASE WHEN attempt >= max_attempts THEN attempt + 1 ELSE max_attempts END
WHERE (:ids IS NULL OR id IN (SELECT value FROM json_each(:ids)))
    AND (:queue IS NULL OR queue = :queue)
    AND (:kind IS NULL OR kind = :kind)
    AND state IN (SELECT value FROM json_each(:states))
    AND state <> 'running' AND state <> 'available'
    -- A job waiting for its workflow dependencies is left alone (retry the workflow instead).
    AND NOT (state = 'scheduled' AND deps_left > 0)
RETURNING id, queue
