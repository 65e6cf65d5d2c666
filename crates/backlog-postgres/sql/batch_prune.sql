-- Deletes up to $1 finished batches none of whose member jobs is left in the job table and that
-- have no child batch left (children go first).
WITH gone AS (
    SELECT id
    FROM backlog_batch AS batch
    WHERE finished_at IS NOT NULL
      AND NOT EXISTS (SELECT 1 FROM backlog_job WHERE batch_id = batch.id)
      AND NOT EXISTS (SELECT 1 FROM backlog_batch AS child WHERE child.parent_id = batch.id)
    ORDER BY id
    LIMIT $1::bigint
    FOR UPDATE SKIP LOCKED
)
DELETE FROM backlog_batch WHERE id IN (SELECT id FROM gone)
RETURNING id
