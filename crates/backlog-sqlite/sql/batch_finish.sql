-- Marks the given batches (:ids, a JSON array) finished if they are sealed and every member
-- finished; the compare-and-set on finished_at IS NULL lets one transaction finish a batch, so
-- its callback is enqueued once. Returns the batches finished.
UPDATE backlog_batch
SET finished_at = :now
WHERE id IN (SELECT value FROM json_each(:ids))
  AND finished_at IS NULL
  AND sealed_at IS NOT NULL
  AND succeeded + failed + cancelled >= total
RETURNING *
