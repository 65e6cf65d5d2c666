-- Fair claim, step 2 for the jobs of a fair queue that carry no partition key (one more group).
SELECT id
FROM backlog_job
WHERE state = 'available' AND queue = :queue AND partition_key IS NULL
  AND (:kinds IS NULL OR kind IN (SELECT value FROM json_each(:kinds)))
ORDER BY priority DESC, scheduled_at, id
LIMIT :limit OFFSET :offset
