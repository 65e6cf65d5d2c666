-- One row per ended execution: $1 id, $2 lease token (fence), $3 new state, $4 delay in microseconds
-- (retry and snooze), $5 error message (NULL: nothing appended), $6 panicked, $7 duration in
-- microseconds, $8 result (NULL keeps the stored one). A new state of `scheduled` is a snooze:
-- the attempt is given back. A zero delay keeps scheduled_at: the job is due at once and keeps
-- its place in the run order (an interrupted or handed-back job does not queue behind newer
-- ones). An entry applies only while the job runs under its token; an
-- entry whose job already left `running` under the same token was applied before (a retried
-- write) and is returned without being applied again.
-- $9 settling: false for the pooled autocommit write, which defers (applies nothing, returns
-- `deferred`) the final outcomes of jobs of workflows or batches; the caller applies those again
-- with true inside a transaction that also settles them (src/settle.rs). Plain jobs stay one
-- autocommit statement.
-- $10 error kinds and $11 backtraces (NULL: left out of the error record).
-- Plans (issue #9; pinned by tests/plans.rs): the job table is often unanalyzed, or analyzed
-- while empty, so every lookup here is shaped to be index-driven whatever the statistics say.
-- `locked` finds the rows as `id = ANY (ARRAY(SELECT ...))`: a scalar array the planner cannot
-- size (it assumes a handful of elements), so it probes the primary key; `id IN (SELECT ...)`
-- may be planned as a hash join over a sequential scan. The fence is checked on the locked
-- rows in `fenced`, never as `state = 'running'` on the updated table: that predicate matches
-- the partial index backlog_job_lease, which looks free to walk without statistics, and the
-- UPDATE became a hash join over every entry of it (every job ever claimed since the last
-- vacuum). The locked rows are their latest versions and stay locked until commit, so the
-- check is the one the UPDATE used to recheck on each row. `fenced` is materialized and small
-- in the planner's eyes (it comes from `locked`), so the UPDATE probes the primary key once per
-- entry; it must not also say `id = ANY (...)`: in a nested loop that array is re-read for
-- every entry, n² for a batch of n.
WITH input AS (
    SELECT *
    FROM unnest(
        $1::bigint[], $2::bytea[], $3::text[], $4::bigint[], $5::text[], $6::boolean[],
        $7::bigint[], $8::jsonb[], $10::text[], $11::text[]
    ) AS t (
        id, lease_token, state, delay_us, message, panicked, duration_us, result, error_kind,
        backtrace
    )
),
-- Lock in id order so that concurrent batches cannot deadlock.
-- FOR UPDATE returns each row's latest committed version, so `already` sees a concurrent
-- write of the same execution that committed while this statement waited for the lock.
locked AS (
    SELECT job.id, job.state, job.lease_token,
        (job.workflow_id IS NOT NULL OR job.batch_id IS NOT NULL) AS grouped
    FROM backlog_job AS job
    WHERE job.id = ANY (ARRAY(SELECT id FROM input))
    ORDER BY job.id
    FOR UPDATE
),
-- The fence, decided on the locked rows (their latest versions, which no one else can change
-- until this transaction ends): the entries that apply now.
fenced AS MATERIALIZED (
    SELECT input.*
    FROM locked
    JOIN input ON input.id = locked.id
    WHERE locked.state = 'running'
      AND locked.lease_token = input.lease_token
      AND (
        $9::boolean
        OR NOT locked.grouped
        OR input.state NOT IN ('completed', 'cancelled', 'discarded')
      )
),
finished AS (
    UPDATE backlog_job AS job
    SET state = input.state::backlog_job_state,
        attempt = CASE WHEN input.state = 'scheduled' THEN job.attempt - 1 ELSE job.attempt END,
        scheduled_at = CASE
            WHEN input.delay_us IS NULL OR input.delay_us = 0 THEN job.scheduled_at
            ELSE now() + input.delay_us * interval '1 microsecond'
        END,
        finalized_at = CASE
            WHEN input.state IN ('completed', 'cancelled', 'discarded') THEN now()
        END,
        lease_expires_at = NULL,
        errors = CASE
            WHEN input.message IS NULL THEN job.errors
            ELSE job.errors || jsonb_build_array(jsonb_strip_nulls(jsonb_build_object(
                'attempt', job.attempt,
                'at', now(),
                'message', input.message,
                'panicked', input.panicked,
                'kind', input.error_kind,
                'backtrace', input.backtrace
            )))
        END,
        attempt_durations_us = array_append(job.attempt_durations_us, input.duration_us),
        result = coalesce(input.result, job.result)
    FROM fenced AS input
    WHERE job.id = input.id
    -- settle: a job of a workflow or batch was finalized; the caller settles its dependants
    -- and batch in the same transaction (src/settle.rs). Plain jobs pay nothing more.
    RETURNING job.id,
        job.finalized_at IS NOT NULL
            AND (job.workflow_id IS NOT NULL OR job.batch_id IS NOT NULL) AS settle
),
already AS (
    SELECT locked.id
    FROM locked
    JOIN input ON input.id = locked.id
    WHERE locked.state <> 'running'
      AND locked.lease_token = input.lease_token
),
deferred AS (
    SELECT locked.id
    FROM locked
    JOIN input ON input.id = locked.id
    WHERE NOT $9::boolean
      AND locked.grouped
      AND locked.state = 'running'
      AND locked.lease_token = input.lease_token
      AND input.state IN ('completed', 'cancelled', 'discarded')
)
SELECT id, settle, false AS deferred FROM finished
UNION ALL
SELECT id, false, false FROM already
UNION ALL
SELECT id, false, true FROM deferred
ORDER BY id
