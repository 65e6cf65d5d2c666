-- Fair claim, step 3: claims the chosen jobs ($1 ids), as job_fetch_available.sql does, if
-- they are still available. $2 worker id, $3 lease in microseconds, $4 now (NULL: database
-- clock). Committed asynchronously like every claim (see job_fetch_available.sql).
-- Plans (issue #9; pinned by tests/plans.rs): the job table is often unanalyzed, or analyzed
-- while empty, so every lookup here is shaped to be index-driven whatever the statistics say.
-- The state test is written `state::text = 'available'` on purpose: as `state = 'available'` it
-- matches the partial index backlog_job_fetch, and without statistics the planner ANDs a bitmap
-- walk of that whole index (every available job) with the primary-key probe. The cast is the
-- same test (also when rechecked on a concurrently updated row) that no index predicate matches.
WITH relaxed AS (
    SELECT set_config('synchronous_commit', 'off', true)
),
claimed AS (
    UPDATE backlog_job AS job
    SET state = 'running',
        attempt = job.attempt + 1,
        attempted_at = coalesce($4::timestamptz, now()),
        attempted_by = array_append(job.attempted_by, $2::text),
        lease_expires_at = coalesce($4::timestamptz, now()) + $3::bigint * interval '1 microsecond',
        lease_token = uuid_send(gen_random_uuid())
    WHERE job.id = ANY ($1::bigint[]) AND job.state::text = 'available'
    RETURNING job.*
)
SELECT claimed.*
FROM claimed
CROSS JOIN relaxed
