-- $1 queues, $2 kinds, $3 args, $4 priorities, $5 max_attempts, $6 scheduled_at (NULL = now),
-- $7 tags (one JSON array of strings per job), $8 metadata, $9 notification channel,
-- $10 notify from this statement (the transactional enqueue: delivered on commit). The pooled
-- insert passes false and wakes workers after committing (src/wakeup.rs explains why).
WITH input AS (
    SELECT *
    FROM unnest(
        $1::text[], $2::text[], $3::jsonb[], $4::smallint[], $5::integer[],
        $6::timestamptz[], $7::jsonb[], $8::jsonb[]
    ) WITH ORDINALITY
        AS t (queue, kind, args, priority, max_attempts, scheduled_at, tags, metadata, ord)
),
inserted AS (
    INSERT INTO backlog_job
        (state, queue, kind, args, priority, max_attempts, scheduled_at, tags, metadata)
    SELECT
        CASE WHEN coalesce(scheduled_at, now()) > now()
            THEN 'scheduled'::backlog_job_state
            ELSE 'available'::backlog_job_state
        END,
        queue, kind, args, priority, max_attempts, coalesce(scheduled_at, now()),
        -- Most jobs have no tags: skip the per-row subquery for them.
        CASE WHEN tags = '[]'::jsonb THEN '{}'::text[]
            ELSE ARRAY(SELECT jsonb_array_elements_text(tags))
        END,
        metadata
    FROM input
    ORDER BY ord
    RETURNING id, queue, state
),
-- Delivered when the transaction commits. Referenced below: an unreferenced SELECT CTE is
-- never executed.
notified AS (
    SELECT pg_notify($9::text, queue)
    FROM (SELECT DISTINCT queue FROM inserted WHERE state = 'available') AS queues
    WHERE $10::boolean
)
SELECT id, queue, state = 'available' AS available
FROM inserted
WHERE (SELECT count(*) FROM notified) >= 0
ORDER BY id
