-- $1 queue, $2 max, $3 worker id, $4 lease in microseconds, $5 now (NULL = database clock).
-- `available` alone means runnable: jobs only enter it once due (insert, job_schedule, retry),
-- so there is no scheduled_at filter. With one, a job promoted by job_schedule with a `now`
-- ahead of the database clock could not be fetched. The walk is then an ordered scan of the
-- partial index backlog_job_fetch that stops after $2 unlocked rows.
WITH locked AS (
    SELECT id
    FROM backlog_job
    WHERE state = 'available'
      AND queue = $1::text
    ORDER BY priority DESC, scheduled_at, id
    LIMIT $2::bigint
    FOR UPDATE SKIP LOCKED
),
claimed AS (
    UPDATE backlog_job AS job
    SET state = 'running',
        attempt = job.attempt + 1,
        attempted_at = coalesce($5::timestamptz, now()),
        attempted_by = array_append(job.attempted_by, $3::text),
        lease_expires_at = coalesce($5::timestamptz, now()) + $4::bigint * interval '1 microsecond'
    FROM locked
    WHERE job.id = locked.id
    RETURNING job.*
)
SELECT *
FROM claimed
ORDER BY priority DESC, scheduled_at, id
