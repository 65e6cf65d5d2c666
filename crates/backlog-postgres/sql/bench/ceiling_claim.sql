-- Claim up to $2 available jobs of queue $1 in run order, as a worker would: running, an attempt
-- more, a lease and a lease token. Commits durably (Backlog's own claim commits asynchronously).
UPDATE bench_ceiling_job AS job
SET state = 'running',
    attempt = job.attempt + 1,
    attempted_at = now(),
    lease_expires_at = now() + interval '30 minutes',
    lease_token = uuid_send(gen_random_uuid())
FROM (
    SELECT id
    FROM bench_ceiling_job
    WHERE state = 'available'
      AND hashtextextended(queue, 0) = hashtextextended($1::text, 0) AND queue = $1::text
    ORDER BY priority DESC, scheduled_at, id
    LIMIT $2::bigint
    FOR UPDATE SKIP LOCKED
) AS locked
WHERE job.id = locked.id
RETURNING job.id
