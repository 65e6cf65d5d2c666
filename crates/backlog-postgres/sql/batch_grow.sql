-- Counts $2 new members into open batch $1, taking its row lock (a concurrent seal waits).
-- No row: the batch is missing or sealed.
UPDATE backlog_batch
SET total = total + $2::bigint
WHERE id = $1::bigint AND sealed_at IS NULL
RETURNING id
