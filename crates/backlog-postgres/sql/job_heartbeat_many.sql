-- $1 ids, $2 attempts, $3 lease in microseconds. Returns the ids no longer held (`lost`) and
-- the held ones whose cancellation was requested (`cancel_requested`).
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
    RETURNING job.id, job.cancel_requested_at IS NOT NULL AS cancel_requested
)
SELECT input.id, renewed.id IS NULL AS lost
FROM input
LEFT JOIN renewed ON renewed.id = input.id
WHERE renewed.id IS NULL OR renewed.cancel_requested
ORDER BY input.ord
