-- $1 completed cutoff, $2 cancelled cutoff, $3 discarded cutoff (NULL: keep all), $4 max,
-- $5 archive: copy each deleted row, whole, into backlog_job_archive in the same statement.
-- $6 the latest of the three cutoffs: the index condition on backlog_job_finalized, so the scan
-- stops there instead of filtering every finished job still kept (tests/plans.rs).
WITH doomed AS (
    SELECT id
    FROM backlog_job
    WHERE finalized_at IS NOT NULL
      AND finalized_at < $6::timestamptz
      AND (
        (state = 'completed' AND finalized_at < $1::timestamptz)
        OR (state = 'cancelled' AND finalized_at < $2::timestamptz)
        OR (state = 'discarded' AND finalized_at < $3::timestamptz)
      )
    ORDER BY finalized_at
    LIMIT $4::bigint
    FOR UPDATE SKIP LOCKED
),
deleted AS (
    DELETE FROM backlog_job AS job
    USING doomed
    WHERE job.id = doomed.id
    RETURNING job.*
),
archived AS (
    INSERT INTO backlog_job_archive (id, queue, kind, state, created_at, finalized_at, job)
    SELECT d.id, d.queue, d.kind, d.state, d.created_at, d.finalized_at, to_jsonb(d)
    FROM deleted AS d
    WHERE $5::boolean
    ON CONFLICT (id) DO NOTHING
)
SELECT count(*) AS deleted FROM deleted
