-- The finalized jobs past their state's cutoff, oldest first. A NULL cutoff matches nothing
-- (comparing with NULL is never true). The writer then archives (optionally) and deletes them.
-- :latest_before, the latest of the three cutoffs, bounds the walk of backlog_job_finalized:
-- without it the search read the whole index (every finished job still kept) to find none.
SELECT id
FROM backlog_job
WHERE finalized_at IS NOT NULL
    AND finalized_at < :latest_before
    AND (
        (state = 'completed' AND finalized_at < :completed_before)
        OR (state = 'cancelled' AND finalized_at < :cancelled_before)
        OR (state = 'discarded' AND finalized_at < :discarded_before)
    )
ORDER BY finalized_at
LIMIT :max
