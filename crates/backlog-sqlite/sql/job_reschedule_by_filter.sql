-- :ids is a JSON array of ids or NULL for any; :states a JSON array of states (among available,
-- scheduled, retryable). :run_at (NULL: kept), :priority (NULL: kept), :new_queue (NULL:
-- kept). A job waiting for its workflow dependencies keeps waiting (its state stays
-- `scheduled` until they complete); its run time, priority and queue still change.
UPDATE backlog_job
SET scheduled_at = coalesce(:run_at, scheduled_at),
    priority = coalesce(:priority, priority),
    queue = coalesce(:new_queue, queue),
    state = CASE
        WHEN deps_left > 0 THEN state
        WHEN coalesce(:run_at, scheduled_at) > :now THEN
            CASE WHEN state = 'retryable' THEN 'retryable' ELSE 'scheduled' END
        ELSE 'available'
    END
WHERE (:ids IS NULL OR id IN (SELECT value FROM json_each(:ids)))
    AND (:queue IS NULL OR queue = :queue)
    AND (:kind IS NULL OR kind = :kind)
    AND state IN (SELECT value FROM json_each(:states))
    AND (state = 'available' OR state = 'scheduled' OR state = 'retryable')
RETURNING id, queue, state
