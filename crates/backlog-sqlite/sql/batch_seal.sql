-- Seals batch :id (keeping the first sealed_at); returns whether it is now due to finish.
UPDATE backlog_batch
SET sealed_at = coalesce(sealed_at, :now)
WHERE id = :id
RETURNING id, finished_at IS NULL AND succeeded + failed + cancelled >= total AS due
