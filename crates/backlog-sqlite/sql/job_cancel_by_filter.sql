-- :ids is a JSON array of ids or NULL for any; :states a JSON array among available, scheduled,
-- running, retryable. Waiting jobs become `cancelled`, running ones get a cancellation request.
UPDATE backlog_job
SET state = CASE WHEN state = 'running' THEN state ELSE 'cancelled' END,
    finalized_at = CASE WHEN state = 'running' THEN finalized_at ELSE :now END,
    cancel_requested_at = CASE
        WHEN state = 'running' THEN coalesce(cancel_requested_at, :now)
        ELSE cancel_requested_at
    END
WHERE (:ids IS NULL OR id IN (SELECT value FROM json_each(:ids)))
    AND (:queue IS NULL OR queue = :queue)
    AND (:kind IS NULL OR kind = :kind)
    AND state IN (SELECT value FROM json_each(:states))
RETURNING id, state
