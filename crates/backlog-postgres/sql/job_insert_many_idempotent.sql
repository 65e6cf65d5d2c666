-- job_insert_many.sql for a batch where some jobs carry an idempotency key (kept apart so that
-- batches without keys pay nothing). Parameters $1..$19 as there, plus $20 idempotency keys
-- (NULL: none; each key at most once in the batch, and never on a unique job), $21 their
-- windows in microseconds, $22 their clock overrides (NULL: now()).
-- Each keyed row claims its key with the id it drew. A live key is "updated" to itself, which
-- makes RETURNING report the id already stored: ON CONFLICT waits for a concurrent claim of the
-- key to commit or roll back and then sees its row, so concurrent inserts of a key yield one
-- job. An expired key is taken over. A row inserts its job only if its key now holds its id.
WITH input AS (
    SELECT t.*, nextval('backlog_job_id_seq') AS new_id
    FROM unnest(
        $1::text[], $2::text[], $3::jsonb[], $4::smallint[], $5::integer[],
        $6::timestamptz[], $7::jsonb[], $8::jsonb[], $10::bytea[], $11::smallint[],
        $12::boolean[], $13::text[], $15::bigint[], $16::bigint[], $17::jsonb[],
        $18::timestamptz[], $19::text[], $20::text[], $21::bigint[], $22::timestamptz[]
    ) WITH ORDINALITY
        AS t (
            queue, kind, args, priority, max_attempts, scheduled_at, tags, metadata,
            unique_key, unique_states, replace, fingerprint, run_after_us, timeout_ms, backoff,
            expires_at, partition_key, idempotency_key, window_us, key_now, ord
        )
),
-- Each key's clock override, as one JSON object built once, looked up per conflict (a binary
-- search) rather than by scanning the batch (n² for a batch of n live keys). to_jsonb writes
-- a timestamptz in ISO 8601 with its offset, so it reads back exactly.
key_clocks AS MATERIALIZED (
    SELECT jsonb_object_agg(idempotency_key, key_now) AS clocks
    FROM input
    WHERE idempotency_key IS NOT NULL
),
claimed AS (
    INSERT INTO backlog_idempotency AS i (key, job_id, expires_at)
    SELECT idempotency_key, new_id,
        coalesce(key_now, now()) + window_us * interval '1 microsecond'
    FROM input
    WHERE idempotency_key IS NOT NULL
    ON CONFLICT (key) DO UPDATE SET (job_id, expires_at) = (
        SELECT
            CASE WHEN r.expired THEN EXCLUDED.job_id ELSE i.job_id END,
            CASE WHEN r.expired THEN EXCLUDED.expires_at ELSE i.expires_at END
        FROM (
            SELECT i.expires_at
                <= coalesce(((SELECT clocks FROM key_clocks) ->> EXCLUDED.key)::timestamptz, now())
                AS expired
        ) AS r
    )
    RETURNING key, job_id
),
admitted AS (
    SELECT input.*
    FROM input
    LEFT JOIN claimed ON claimed.key = input.idempotency_key
    WHERE input.idempotency_key IS NULL OR claimed.job_id = input.new_id
),
-- As in job_insert_many.sql: replacing rows' keys, looked up per conflict in O(log n).
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
        CASE WHEN tags = '[]'::jsonb THEN '{}'::text[]
            ELSE ARRAY(SELECT jsonb_array_elements_text(tags))
        END,
        metadata, unique_key, unique_states, fingerprint, timeout_ms, backoff, expires_at,
        partition_key
    FROM admitted
    ORDER BY ord
    -- As in job_insert_many.sql (keyed rows are never unique, so only unkeyed rows conflict).
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
        SELECT
            CASE WHEN r.moves THEN EXCLUDED.args ELSE backlog_job.args END,
            CASE WHEN r.moves THEN EXCLUDED.scheduled_at ELSE backlog_job.scheduled_at END,
            CASE
                WHEN NOT r.moves THEN backlog_job.state
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
notified AS (
    SELECT pg_notify($9::text, queue)
    FROM (SELECT DISTINCT queue FROM inserted WHERE state = 'available') AS queues
    WHERE $14::boolean
),
-- Back to input order. A keyed row whose key held another id is a duplicate of that job (which
-- may since have been deleted).
results AS (
    SELECT input.ord,
        coalesce(by_key.id, by_id.id, by_idempotency.job_id) AS id,
        coalesce(by_key.duplicate, by_idempotency.job_id IS NOT NULL AND by_id.id IS NULL)
            AS duplicate,
        coalesce(by_key.queue, by_id.queue) AS queue,
        coalesce(coalesce(by_key.state, by_id.state) = 'available', false) AS available
    FROM input
    LEFT JOIN inserted AS by_id
        ON input.unique_key IS NULL AND by_id.id = input.new_id
    LEFT JOIN inserted AS by_key
        ON input.unique_key IS NOT NULL AND by_key.unique_key = input.unique_key
    LEFT JOIN claimed AS by_idempotency
        ON by_idempotency.key = input.idempotency_key
)
SELECT id, duplicate, queue, available
FROM results
WHERE (SELECT count(*) FROM notified) >= 0
ORDER BY ord
