-- $1 ids (empty: any), $2 queue (NULL: any), $3 kind (NULL: any), $4 states (among available,
-- scheduled, running, retryable), $5 notification channel. Waiting jobs become `cancelled`;
-- running ones get a cancellation request and their workers are told. Returns each job changed
-- with `requested` (true for running jobs).
WITH target AS (
    SELECT id
    FROM backlog_job
    WHERE (cardinality($1::bigint[]) = 0 OR id = ANY ($1::bigint[]))
      AND ($2::text IS NULL OR queue = $2::text)
      AND ($3::text IS NULL OR kind = $3::text)
      AND state = ANY ($4::text[]::backlog_job_state[])
    ORDER BY id
    FOR UPDATE
),
changed AS (
    UPDATE backlog_job AS job
    SET state = CASE
            WHEN job.state = 'running' THEN job.state
            ELSE 'cancelled'::backlog_job_state
        END,
        finalized_at = CASE WHEN job.state = 'running' THEN job.finalized_at ELSE now() END,
        cancel_requested_at = CASE
            WHEN job.state = 'running' THEN coalesce(job.cancel_requested_at, now())
            ELSE job.cancel_requested_at
        END
    FROM target
    WHERE job.id = target.id
    RETURNING job.id, job.state
),
-- One notification per 300 running jobs: a payload must stay under 8,000 bytes.
notified AS (
    SELECT pg_notify($5::text, 'cancel:' || string_agg(id::text, ','))
    FROM (
        SELECT id, (row_number() OVER (ORDER BY id) - 1) / 300 AS chunk
        FROM changed
        WHERE state = 'running'
    ) AS running
    GROUP BY chunk
)
SELECT id, state = 'running' AS requested
FROM changed
WHERE (SELECT count(*) FROM notified) >= 0
ORDER BY id
