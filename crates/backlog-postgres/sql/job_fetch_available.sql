-- $1 queue, $2 max, $3 worker id, $4 lease in microseconds, $5 now (NULL = database clock),
-- $7 kinds (an empty array: any kind; a filter on the rows walked, never a change of walk: the
-- statement runs with a generic plan, src/plan.rs), $6 limited: false on the fast path, which claims nothing when the queue has a settings row
-- that pauses, limits or makes it fair (a one-time primary-key probe of backlog_queue); true when the
-- caller holds that row's lock and computed $2 from the limits (see src/queue.rs).
-- `available` alone means runnable: jobs only enter it once due (insert, job_schedule, retry),
-- so there is no scheduled_at filter. With one, a job promoted by job_schedule with a `now`
-- ahead of the database clock could not be fetched. The walk is then an ordered scan of the
-- partial index backlog_job_fetch that stops after $2 unlocked rows. The index is keyed by a
-- hash of the queue (migrations/017_fetch_index_hash.up.sql): the hash's equality finds the
-- queue's range, the name's rules out another queue with the same hash.
--
-- The claim commits asynchronously (synchronous_commit off for this transaction only): a
-- claim is a lease, not data. If the server crashes before the claim reaches disk, the job is
-- simply available again, as if it had been rescued, and the worker's fenced completion is
-- rejected: each claim draws a random lease token (never a sequence value, which a crash can
-- hand out again) and every later write of the execution must present it. Not waiting for that flush takes one fsync off the enqueue-to-start path; enqueues
-- and outcomes still commit durably (and flush any earlier claim records with them).
-- Plans (issue #9; pinned by tests/plans.rs): the job table is often unanalyzed, or analyzed
-- while empty, so every lookup here is shaped to be index-driven whatever the statistics say.
-- The claimed rows are updated through `id = ANY (ARRAY(SELECT id FROM locked))`, a primary-key
-- probe whatever $2 is; a join to `locked` is a hash join over the table once the planner
-- believes `locked` is large (stale statistics of a full queue).
WITH relaxed AS (
    SELECT set_config('synchronous_commit', 'off', true)
),
locked AS (
    SELECT id
    FROM backlog_job
    WHERE state = 'available'
      AND hashtextextended(queue, 0) = hashtextextended($1::text, 0)
      AND queue = $1::text
      AND (cardinality($7::text[]) = 0 OR kind = ANY($7::text[]))
      AND ($6::boolean OR NOT EXISTS (
        SELECT 1
        FROM backlog_queue AS settings
        WHERE settings.name = $1::text
          AND (settings.paused_at IS NOT NULL
            OR settings.max_running IS NOT NULL
            OR settings.rate_max IS NOT NULL
            OR settings.fair)
      ))
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
        lease_expires_at = coalesce($5::timestamptz, now()) + $4::bigint * interval '1 microsecond',
        lease_token = uuid_send(gen_random_uuid())
    WHERE job.id = ANY (ARRAY(SELECT id FROM locked))
    RETURNING job.*
)
SELECT claimed.*
FROM claimed
CROSS JOIN relaxed
ORDER BY priority DESC, scheduled_at, id
