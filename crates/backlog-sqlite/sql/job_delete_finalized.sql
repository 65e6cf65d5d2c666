-- A NULL cutoff matches nothing (comparing with NULL is never true).
DELETE FROM backlog_job
WHERE id IN (
    SELECT id
    FROM backlog_job
    WHERE finalized_at IS NOT NULL
        AND (
            (state = 'completed' AND finalized_at < :completed_before)
            OR (state = 'cancelled' AND finalized_at < :cancelled_before)
            OR (state = 'discarded' AND finalized_at < :discarded_before)
        )
    ORDER BY finalized_at
    LIMIT :max
)
