-- Running jobs whose lease ran out: retry them at once, or discard them when their attempts are
-- used up.
UPDATE backlog_job
SET state = CASE WHEN attempt >= max_attempts THEN 'discarded' ELSE 'retryable' END,
    finalized_at = CASE WHEN attempt >= max_attempts THEN :now ELSE NULL END,
    scheduled_at = CASE WHEN attempt >= max_attempts THEN scheduled_at ELSE :now END,
    lease_expires_at = NULL,
    errors = json_insert(
        errors, '$[#]',
        json_object(
            'attempt', attempt,
            'at', :now,
            'message', 'lease expired: the worker stopped heartbeating (it crashed, was killed or lost the database)',
            'panicked', json('false')
        )
    )
WHERE id IN (
    SELECT id
    FROM backlog_job
    WHERE state = 'running' AND lease_expires_at < :now
    ORDER BY lease_expires_at, id
    LIMIT :max
)
RETURNING id
