-- Marks the given batches finished if they are sealed and every member finished. The
-- compare-and-set on finished_at IS NULL, under the row lock, lets exactly one transaction
-- finish a batch, so its callback is enqueued once. Returns the batches finished.
UPDATE backlog_batch
SET finished_at = now()
WHERE id = ANY ($1::bigint[])
  AND finished_at IS NULL
  AND sealed_at IS NOT NULL
  AND succeeded + failed + cancelled >= total
RETURNING *
