-- $1 queues, $2 kinds, $3 args, $4 priorities, $5 max_attempts, $6 scheduled_at (NULL = now),
-- $7 tags (one JSON array of strings per job), $8 metadata, $9 notification channel,
-- $10 unique keys (NULL: not unique), $11 unique state masks, $12 replace on conflict,
-- $13 fingerprints. The batch holds each unique key at most once (folded by the caller).
-- $14 notify from this statement (the transactional enqueue: delivered on commit). The pooled
-- insert passes false and wakes workers after committing (src/wakeup.rs explains why).
-- $15 run after, in microseconds on the database clock (used when scheduled_at is NULL).
-- $16 timeouts in milliseconds, $17 backoffs (JSON), $18 expiry times (NULL: none),
-- $19 partition keys (NULL: none; a queue receiving a keyed job is marked fair).
-- Each row draws its id up front, so results map back to input rows with an O(n) join on the
-- id (a window-numbered join of the two lists went quadratic under a generic plan).
WITH input AS (
    SELECT t.*, nextval('backlog_job_id_seq') AS new_id
    FROM unnest(
        $1::text[], $2::text[], $3::jsonb[], $4::smallint[], $5::integer[],
        $6::timestamptz[], $7::jsonb[], $8::jsonb[], $10::bytea[], $11::smallint[],
        $12::boolean[], $13::text[], $15::bigint[], $16::bigint[], $17::jsonb[],
        $18::timestamptz[], $19::text[]
    ) WITH ORDINALITY
        AS t (
            queue, kind, args, priority, max_attempts, scheduled_at, tags, metadata,
            unique_key, unique_states, replace, fingerprint, run_after_us, timeout_ms, backoff,
            expires_at, partition_key, ord
        )
),
-- The unique keys of the rows that replace, as one JSON object built once: a conflict looks its
-- key up in it (a binary search) instead of scanning the whole batch, which made a batch of n
-- duplicates cost n² row comparisons. NULL when no row replaces.
replacing AS MATERIALIZED (
    SELECT jsonb_object_agg(encode(unique_key, 'hex'), true) AS keys
    FROM input
    WHERE replace AND unique_key IS NOT NULL
),
inserted AS (
    INSERT INTO backlog_job (
        id, state, queue, kind, args, priority, max_attempts, scheduled_at, tags, metadata,
        unique_key, unique_states, fingerprint, timeout_ms, backoff, expires_at, partition_key
    )
    OVERRIDING SYSTEM VALUE
    SELECT
        new_id,
        CASE WHEN coalesce(scheduled_at, now() + run_after_us * interval '1 microsecond', now())
                > now()
            THEN 'scheduled'::backlog_job_state
            ELSE 'available'::backlog_job_state
        END,
        queue, kind, args, priority, max_attempts,
        coalesce(scheduled_at, now() + run_after_us * interval '1 microsecond', now()),
        -- Most jobs have no tags: skip the per-row subquery for them.
        CASE WHEN tags = '[]'::jsonb THEN '{}'::text[]
            ELSE ARRAY(SELECT jsonb_array_elements_text(tags))
        END,
        metadata, unique_key, unique_states, fingerprint, timeout_ms, backoff, expires_at,
        partition_key
    FROM input
    ORDER BY ord
    -- The predicate of the unique index backlog_job_unique, spelled identically so that the
    -- index is inferred. A duplicate is "updated" so that RETURNING reports the existing row;
    -- xmax is then non-zero, which is how the caller learns it was a duplicate.
    ON CONFLICT (unique_key) WHERE CASE state
        WHEN 'available' THEN unique_states & 1
        WHEN 'scheduled' THEN unique_states & 2
        WHEN 'running' THEN unique_states & 4
        WHEN 'retryable' THEN unique_states & 8
        WHEN 'completed' THEN unique_states & 16
        WHEN 'cancelled' THEN unique_states & 32
        WHEN 'discarded' THEN unique_states & 64
    END <> 0
    DO UPDATE SET (args, scheduled_at, state) = (
        -- Replace (debounce) moves a job that has not started; anything else is a skip.
        SELECT
            CASE WHEN r.moves THEN EXCLUDED.args ELSE backlog_job.args END,
            CASE WHEN r.moves THEN EXCLUDED.scheduled_at ELSE backlog_job.scheduled_at END,
            CASE
                WHEN NOT r.moves THEN backlog_job.state
                -- A retryable job moved into the future stays retryable.
                WHEN backlog_job.state = 'retryable' AND EXCLUDED.state = 'scheduled'
                    THEN backlog_job.state
                ELSE EXCLUDED.state
            END
        FROM (
            SELECT coalesce((SELECT keys FROM replacing) ? encode(EXCLUDED.unique_key, 'hex'), false)
                AND backlog_job.state IN ('available', 'scheduled', 'retryable') AS moves
        ) AS r
    )
    RETURNING id, queue, state, unique_key, (xmax::text <> '0') AS duplicate
),
-- A queue receiving a keyed job becomes fair (once: a queue already fair is not written, so
-- producers do not queue on its settings row). Batches without keys find nothing to do.
fair_new AS (
    INSERT INTO backlog_queue (name, fair)
    SELECT DISTINCT input.queue, true
    FROM input
    WHERE input.partition_key IS NOT NULL
      AND NOT EXISTS (SELECT 1 FROM backlog_queue AS q WHERE q.name = input.queue)
    ON CONFLICT (name) DO NOTHING
    RETURNING name
),
fair_set AS (
    UPDATE backlog_queue AS q
    SET fair = true, updated_at = now()
    WHERE q.name IN (SELECT queue FROM input WHERE partition_key IS NOT NULL)
      AND NOT q.fair
    RETURNING q.name
),
-- Delivered when the transaction commits. Referenced below: an unreferenced SELECT CTE is
-- never executed.
notified AS (
    SELECT pg_notify($9::text, queue)
    FROM (SELECT DISTINCT queue FROM inserted WHERE state = 'available') AS queues
    WHERE $14::boolean
),
-- Back to input order. A row without a unique key was inserted with its own id; a keyed row
-- maps to the inserted or existing job holding its key (keys are unique within a batch).
results AS (
    SELECT input.ord,
        coalesce(by_key.id, by_id.id) AS id,
        coalesce(by_key.duplicate, false) AS duplicate,
        coalesce(by_key.queue, by_id.queue) AS queue,
        coalesce(by_key.state, by_id.state) = 'available' AS available
    FROM input
    LEFT JOIN inserted AS by_id
        ON input.unique_key IS NULL AND by_id.id = input.new_id
    LEFT JOIN inserted AS by_key
        ON input.unique_key IS NOT NULL AND by_key.unique_key = input.unique_key
)
SELECT id, duplicate, queue, available
FROM results
WHERE (SELECT count(*) FROM notified) >= 0
ORDER BY ord
