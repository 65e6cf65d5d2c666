-- $2 the time a waiting job is scheduled at (the year 9999).
-- Retries workflow $1's discarded and cancelled jobs. Each waits again for its dependencies
-- that have not completed (a dependency the cleaner deleted had finished and counts as
-- settled); with none it is available at once. A job that used all its attempts gets one more.
WITH retried AS (
    SELECT id
    FROM backlog_job
    WHERE workflow_id = $1::bigint AND state IN ('discarded', 'cancelled')
    ORDER BY id
    FOR UPDATE
),
waits AS (
    SELECT retried.id, count(dep.id)::integer AS deps_left
    FROM retried
    LEFT JOIN backlog_job_dependency AS edge ON edge.job_id = retried.id
    LEFT JOIN backlog_job AS dep ON dep.id = edge.depends_on AND dep.state <> 'completed'
    GROUP BY retried.id
)
UPDATE backlog_job AS job
SET state = CASE WHEN waits.deps_left > 0 THEN 'scheduled' ELSE 'available' END::backlog_job_state,
    deps_left = waits.deps_left,
    scheduled_at = CASE
        WHEN waits.deps_left > 0 THEN $2::timestamptz
        ELSE now()
    END,
    finalized_at = NULL,
    cancel_requested_at = NULL,
    max_attempts = CASE
        WHEN job.attempt >= job.max_attempts THEN job.attempt + 1
        ELSE job.max_attempts
    END
FROM waits
WHERE job.id = waits.id
RETURNING job.id, job.queue, job.state::text AS state
