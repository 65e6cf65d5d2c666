-- Retries workflow :id's discarded and cancelled jobs. Each waits again (scheduled at
-- :waiting, the year 9999) for its dependencies that have not completed (a dependency the
-- cleaner deleted had finished and counts as settled); with none it is available at :now. A
-- job that used all its attempts gets one more.
WITH waits AS (
    SELECT job.id,
        (SELECT count(*)
            FROM backlog_job_dependency AS edge
            JOIN backlog_job AS dep ON dep.id = edge.depends_on
            WHERE edge.job_id = job.id AND dep.state <> 'completed') AS deps_left
    FROM backlog_job AS job
    WHERE job.workflow_id = :id AND job.state IN ('discarded', 'cancelled')
)
UPDATE backlog_job
SET state = CASE WHEN waits.deps_left > 0 THEN 'scheduled' ELSE 'available' END,
    deps_left = waits.deps_left,
    scheduled_at = CASE WHEN waits.deps_left > 0 THEN :waiting ELSE :now END,
    finalized_at = NULL,
    cancel_requested_at = NULL,
    max_attempts = CASE WHEN attempt >= max_attempts THEN attempt + 1 ELSE max_attempts END
FROM waits
WHERE backlog_job.id = waits.id
RETURNING id, queue, state
