-- $1 completed cutoff, $2 cancelled cutoff, $3 discarded cutoff (NULL: keep all), $4 max.
WITH doomed AS (
    SELECT id
    FROM backlog_job
    WHERE finalized_at IS NOT NULL
      AND (
        (state = 'completed' AND finalized_at < $1::timestamptz)
        OR (state = 'cancelled' AND finalized_at < $2::timestamptz)
        OR (state = 'discarded' AND finalized_at < $3::timestamptz)
      )
    ORDER BY finalized_at
    LIMIT $4::bigint
    FOR UPDATE SKIP LOCKED
)
DELETE FROM backlog_job AS job
USING doomed
WHERE job.id = doomed.id
