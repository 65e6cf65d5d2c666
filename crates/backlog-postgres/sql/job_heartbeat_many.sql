-- $1 ids, $2 lease tokens, $3 lease in microseconds. Returns the ids no longer held (`lost`)
-- and the held ones whose cancellation was requested (`cancel_requested`).
-- A row still carrying the token but no longer running was finished by this same execution
-- (its outcome raced the heartbeat): it is not lost, and its lease is left alone. Matching on
-- the token alone lets the UPDATE re-check each row's latest version, so that race is decided
-- on committed data rather than on the statement's snapshot.
-- Plans (issue #9; pinned by tests/plans.rs): the job table is often unanalyzed, or analyzed
-- while empty, so every lookup here is shaped to be index-driven whatever the statistics say.
-- The `id = ANY (ARRAY(SELECT id FROM input))` makes it probe the primary key: joined to the
-- input alone, a full batch (1,000 ids) was planned as a hash join over a sequential scan.
WITH input AS (
    SELECT *
    FROM unnest($1::bigint[], $2::bytea[]) WITH ORDINALITY AS t (id, lease_token, ord)
),
matched AS (
    UPDATE backlog_job AS job
    SET lease_expires_at = CASE
            WHEN job.state = 'running' THEN now() + $3::bigint * interval '1 microsecond'
            ELSE job.lease_expires_at
        END
    FROM input
    WHERE job.id = ANY (ARRAY(SELECT id FROM input))
      AND job.id = input.id
      AND job.lease_token = input.lease_token
    RETURNING job.id, job.state = 'running' AND job.cancel_requested_at IS NOT NULL AS cancel_requested
)
SELECT input.id, matched.id IS NULL AS lost
FROM input
LEFT JOIN matched ON matched.id = input.id
WHERE matched.id IS NULL OR matched.cancel_requested
ORDER BY input.ord
