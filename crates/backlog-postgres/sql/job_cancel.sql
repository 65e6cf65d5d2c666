-- $1 id, $2 kind (NULL: any), $3 request cancellation if running, $4 notification channel.
-- Returns the job as it was before, with `changed`: whether it was cancelled or its
-- cancellation requested. The kind is checked in the same statement, on the locked row.
WITH old AS (
    SELECT *
    FROM backlog_job
    WHERE id = $1::bigint
    FOR UPDATE
),
changed AS (
    UPDATE backlog_job AS job
    SET state = CASE
            WHEN old.state = 'running' THEN job.state
            ELSE 'cancelled'::backlog_job_state
        END,
        finalized_at = CASE WHEN old.state = 'running' THEN job.finalized_at ELSE now() END,
        cancel_requested_at = CASE
            WHEN old.state = 'running' THEN coalesce(job.cancel_requested_at, now())
            ELSE job.cancel_requested_at
        END
    FROM old
    WHERE job.id = old.id
      AND ($2::text IS NULL OR old.kind = $2::text)
      AND (
        old.state IN ('available', 'scheduled', 'retryable')
        OR (old.state = 'running' AND $3::boolean)
      )
    RETURNING job.id, job.state
),
-- Tells the worker holding a running job (payload `cancel:<id>`; queue names cannot hold `:`).
notified AS (
    SELECT pg_notify($4::text, 'cancel:' || id) FROM changed WHERE state = 'running'
)
SELECT old.*, EXISTS (SELECT 1 FROM changed) AS changed
FROM old
WHERE (SELECT count(*) FROM notified) >= 0
