-- One window of the cleaner's sweep over the batches: examines the $1 batches with the lowest
-- ids above $2 and deletes the finished ones none of whose member jobs is left in the job
-- table and that have no child batch left (children go first). Answers how many were deleted
-- and examined, and the last id examined (where the next window starts).
WITH examined AS (
    SELECT id FROM backlog_batch WHERE id > $2::bigint ORDER BY id LIMIT $1::bigint
),
gone AS (
    SELECT id
    FROM backlog_batch AS batch
    WHERE id IN (SELECT id FROM examined)
      AND finished_at IS NOT NULL
      AND NOT EXISTS (SELECT 1 FROM backlog_job WHERE batch_id = batch.id)
      AND NOT EXISTS (SELECT 1 FROM backlog_batch AS child WHERE child.parent_id = batch.id)
    FOR UPDATE SKIP LOCKED
),
deleted AS (
    DELETE FROM backlog_batch WHERE id IN (SELECT id FROM gone)
    RETURNING id
)
SELECT (SELECT count(*) FROM deleted) AS deleted,
       (SELECT count(*) FROM examined) AS examined,
       (SELECT max(id) FROM examined) AS last
