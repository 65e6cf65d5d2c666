-- Counts finished members into their batches: :jobs (JSON array) jobs just finalized in this
-- transaction, :children (JSON array) child batches just finished (succeeded if none of their
-- members failed or was cancelled). Returns the batches counted and whether they are now due
-- to finish.
WITH members AS (
    SELECT batch_id, state
    FROM backlog_job
    WHERE id IN (SELECT value FROM json_each(:jobs)) AND batch_id IS NOT NULL
    UNION ALL
    SELECT parent_id,
        CASE WHEN failed = 0 AND cancelled = 0 THEN 'completed' ELSE 'discarded' END
    FROM backlog_batch
    WHERE id IN (SELECT value FROM json_each(:children)) AND parent_id IS NOT NULL
),
grouped AS (
    SELECT batch_id,
        sum(state = 'completed') AS succeeded,
        sum(state = 'discarded') AS failed,
        sum(state = 'cancelled') AS cancelled
    FROM members
    GROUP BY batch_id
)
UPDATE backlog_batch
SET succeeded = backlog_batch.succeeded + grouped.succeeded,
    failed = backlog_batch.failed + grouped.failed,
    cancelled = backlog_batch.cancelled + grouped.cancelled
FROM grouped
WHERE backlog_batch.id = grouped.batch_id
RETURNING id,
    sealed_at IS NOT NULL AND finished_at IS NULL
        AND succeeded + failed + cancelled >= total AS due
