-- Counts :n new members into open batch :id. No row: the batch is missing or sealed.
UPDATE backlog_batch
SET total = total + :n
WHERE id = :id AND sealed_at IS NULL
RETURNING id
