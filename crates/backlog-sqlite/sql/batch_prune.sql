-- Deletes up to :limit finished batches none of whose member jobs is left in the job table and
-- that have no child batch left (children go first).
DELETE FROM backlog_batch
WHERE id IN (
    SELECT id
    FROM backlog_batch AS batch
    WHERE finished_at IS NOT NULL
      AND NOT EXISTS (SELECT 1 FROM backlog_job WHERE batch_id = batch.id)
      AND NOT EXISTS (SELECT 1 FROM backlog_batch AS child WHERE child.parent_id = batch.id)
    ORDER BY id
    LIMIT :limit
)
RETURNING id
