-- Running jobs whose lease ran out: retry them at once, keeping their scheduled_at (and so their
-- place in the run order), or discard them when their attempts are
-- used up or when they have now been rescued :poison times (poison jobs that keep killing or
-- stalling their worker; :poison = 0 turns the check off).
UPDATE backlog_job
SET state = CASE
        WHEN attempt >= max_attempts OR (:poison > 0 AND rescue_count + 1 >= :poison)
        THEN 'discarded' ELSE 'retryable'
    END,
    finalized_at = CASE
        WHEN attempt >= max_attempts OR (:poison > 0 AND rescue_count + 1 >= :poison)
        THEN :now ELSE NULL
    END,
    lease_expires_at = NULL,
    lease_token = NULL,
    rescue_count = rescue_count + 1,
    errors = json_insert(
        errors, '$[#]',
        json_object(
            'attempt', attempt,
            'at', :now,
            'message', CASE
                WHEN :poison > 0 AND rescue_count + 1 >= :poison THEN format(
                    'poison job: rescued %d times after its worker stopped heartbeating (it keeps crashing or stalling its worker); discarded instead of retried',
                    rescue_count + 1)
                ELSE 'lease expired: the worker stopped heartbeating (it crashed, was killed or lost the database)'
            END,
            'panicked', json('false'),
            'kind', CASE
                WHEN :poison > 0 AND rescue_count + 1 >= :poison THEN 'poison'
                ELSE 'lease_expired'
            END
        )
    )
WHERE id IN (
    SELECT id
    FROM backlog_job
    WHERE state = 'running' AND lease_expires_at < :now
    ORDER BY lease_expires_at, id
    LIMIT :max
)
-- finalized: discarded (attempts used up or poison); its dependants and batch are settled.
RETURNING id, finalized_at IS NOT NULL AS finalized
