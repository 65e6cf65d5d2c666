-- $1 ids, $2 attempts, $3 lease in microseconds. Returns the ids no longer held.
WITH input AS (
    SELECT *
    FROM unnest($1::bigint[], $2::integer[]) WITH ORDINALITY AS t (id, attempt, ord)
),
renewed AS (
    UPDATE backlog_job AS job
    SET lease_expires_at = now() + $3::bigint * interval '1 microsecond'
    FROM input
    WHERE job.id = input.id
      AND job.state = 'running'
      AND job.attempt = input.attempt
    RETURNING job.id
)
SELECT input.id
FROM input
WHERE NOT EXISTS (SELECT 1 FROM renewed WHERE renewed.id = input.id)
ORDER BY input.ord
