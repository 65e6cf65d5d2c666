-- Fair claim, step 2: one key's next available jobs in run order, skipping :offset of them.
-- :kinds is NULL (any kind) or a JSON array of the kinds to claim.
SELECT id
FROM backlog_job
WHERE state = 'available' AND queue = :queue AND partition_key = :key
  AND (:kinds IS NULL OR kind IN (SELECT value FROM json_each(:kinds)))
ORDER BY priority DESC, scheduled_at, id
LIMIT :limit OFFSET :offset
