-- Seals batch $1 (keeping the first sealed_at); returns whether it is now due to finish.
UPDATE backlog_batch
SET sealed_at = coalesce(sealed_at, now())
WHERE id = $1::bigint
RETURNING id,
    finished_at IS NULL AND succeeded + failed + cancelled >= total AS due
