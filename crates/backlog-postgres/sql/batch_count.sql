-- Counts finished members into their batches: $1 jobs just finalized in this transaction, $2
-- child batches just finished (succeeded if none of their members failed or was cancelled).
-- Batch rows are locked in id order, so concurrent counts of one batch apply one after the
-- other. Returns the batches counted and whether they are now due to finish.
WITH members AS (
    SELECT batch_id, state::text AS state
    FROM backlog_job
    WHERE id = ANY ($1::bigint[]) AND batch_id IS NOT NULL
    UNION ALL
    SELECT parent_id,
        CASE WHEN failed = 0 AND cancelled = 0 THEN 'completed' ELSE 'discarded' END
    FROM backlog_batch
    WHERE id = ANY ($2::bigint[]) AND parent_id IS NOT NULL
),
grouped AS (
    SELECT batch_id,
        count(*) FILTER (WHERE state = 'completed') AS succeeded,
        count(*) FILTER (WHERE state = 'discarded') AS failed,
        count(*) FILTER (WHERE state = 'cancelled') AS cancelled
    FROM members
    GROUP BY batch_id
),
locked AS (
    SELECT batch.id, grouped.succeeded, grouped.failed, grouped.cancelled
    FROM backlog_batch AS batch
    JOIN grouped ON grouped.batch_id = batch.id
    ORDER BY batch.id
    FOR UPDATE OF batch
)
UPDATE backlog_batch AS batch
SET succeeded = batch.succeeded + locked.succeeded,
    failed = batch.failed + locked.failed,
    cancelled = batch.cancelled + locked.cancelled
FROM locked
WHERE batch.id = locked.id
RETURNING batch.id,
    batch.sealed_at IS NOT NULL AND batch.finished_at IS NULL
        AND batch.succeeded + batch.failed + batch.cancelled >= batch.total AS due
