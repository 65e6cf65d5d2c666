-- $1 now (NULL = database clock), $2 max, $3 notification channel.
-- Plans (issue #9; pinned by tests/plans.rs): the job table is often unanalyzed, or analyzed
-- while empty, so every lookup here is shaped to be index-driven whatever the statistics say.
-- Due jobs come from backlog_job_pending; they are promoted by `id = ANY (ARRAY(SELECT ...))`
-- (primary-key probes), never by a join the planner may hash.
WITH due AS (
    SELECT id
    FROM backlog_job
    WHERE state IN ('scheduled', 'retryable')
      AND scheduled_at <= coalesce($1::timestamptz, now())
      -- A job waiting for workflow dependencies is released by them, never by the clock.
      AND deps_left = 0
    ORDER BY scheduled_at, id
    LIMIT $2::bigint
    FOR UPDATE SKIP LOCKED
),
promoted AS (
    UPDATE backlog_job AS job
    SET state = 'available'
    WHERE job.id = ANY (ARRAY(SELECT id FROM due))
    RETURNING job.queue
),
counts AS (
    SELECT queue, count(*) AS count FROM promoted GROUP BY queue
),
notified AS (
    SELECT pg_notify($3::text, queue) FROM counts
)
SELECT queue, count
FROM counts
WHERE (SELECT count(*) FROM notified) >= 0
ORDER BY queue
