-- Fair claim, step 2 for the jobs of fair queue $1 without a partition key (one more group):
-- $2 of them after skipping $3, in run order. $4 kinds (empty: any).
SELECT id
FROM backlog_job
WHERE state = 'available' AND queue = $1::text AND partition_key IS NULL
  AND (cardinality($4::text[]) = 0 OR kind = ANY ($4::text[]))
ORDER BY priority DESC, scheduled_at, id
LIMIT $2::bigint OFFSET $3::bigint
