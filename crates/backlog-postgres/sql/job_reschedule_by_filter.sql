-- $1 ids (empty: any), $2 queue (NULL: any), $3 kind (NULL: any), $4 states (among available,
-- scheduled, retryable), $5 new run time (NULL: kept), $6 new priority (NULL: kept), $7 new
-- queue (NULL: kept), $8 notification channel. A job waiting for its workflow dependencies
-- keeps waiting (its state stays `scheduled` until they complete); its run time, priority and
-- queue still change.
WITH target AS (
    SELECT id
    FROM backlog_job
    WHERE (cardinality($1::bigint[]) = 0 OR id = ANY ($1::bigint[]))
      AND ($2::text IS NULL OR queue = $2::text)
      AND ($3::text IS NULL OR kind = $3::text)
      AND state = ANY ($4::text[]::backlog_job_state[])
      AND state IN ('available', 'scheduled', 'retryable')
    ORDER BY id
    FOR UPDATE SKIP LOCKED
),
moved AS (
    UPDATE backlog_job AS job
    SET scheduled_at = coalesce($5::timestamptz, job.scheduled_at),
        priority = coalesce($6::smallint, job.priority),
        queue = coalesce($7::text, job.queue),
        state = CASE
            WHEN job.deps_left > 0 THEN job.state
            WHEN coalesce($5::timestamptz, job.scheduled_at) > now() THEN
                CASE WHEN job.state = 'retryable' THEN 'retryable' ELSE 'scheduled' END
                    ::backlog_job_state
            ELSE 'available'::backlog_job_state
        END
    FROM target
    WHERE job.id = target.id
      AND job.state IN ('available', 'scheduled', 'retryable')
    RETURNING job.id, job.queue, job.state
),
notified AS (
    SELECT pg_notify($8::text, queue)
    FROM (SELECT DISTINCT queue FROM moved WHERE state = 'available') AS queues
)
SELECT id
FROM moved
WHERE (SELECT count(*) FROM notified) >= 0
ORDER BY id
