-- Fair claim, step 1: the next partition key after :after with available jobs in :queue (one
-- probe of the partial index backlog_job_fetch_partition: a skip scan, one probe per key).
SELECT partition_key
FROM backlog_job
WHERE state = 'available' AND queue = :queue AND partition_key IS NOT NULL
  AND partition_key > :after
ORDER BY partition_key
LIMIT 1
