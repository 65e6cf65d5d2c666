-- $1 name, $2 kind, $3 args, $4 queue, $5 priority, $6 max_attempts, $7 tags, $8 spec,
-- $9 timezone, $10 missed_policy, $11 enabled, $12 next_run_at, $13 now (NULL = database clock),
-- $14 notification channel.
-- The pending tick is kept when the timing (spec and time zone) is unchanged.
WITH upserted AS (
    INSERT INTO backlog_cron AS cron (
        name, kind, args, queue, priority, max_attempts, tags, spec, timezone, missed_policy,
        enabled, next_run_at, created_at, updated_at
    )
    VALUES (
        $1::text, $2::text, $3::jsonb, $4::text, $5::smallint, $6::integer, $7::text[], $8::text,
        $9::text, $10::text, $11::boolean, $12::timestamptz,
        coalesce($13::timestamptz, now()), coalesce($13::timestamptz, now())
    )
    ON CONFLICT (name) DO UPDATE
    SET kind = excluded.kind,
        args = excluded.args,
        queue = excluded.queue,
        priority = excluded.priority,
        max_attempts = excluded.max_attempts,
        tags = excluded.tags,
        spec = excluded.spec,
        timezone = excluded.timezone,
        missed_policy = excluded.missed_policy,
        enabled = excluded.enabled,
        next_run_at = CASE WHEN cron.spec = excluded.spec AND cron.timezone = excluded.timezone
            THEN cron.next_run_at ELSE excluded.next_run_at END,
        updated_at = excluded.updated_at
    RETURNING *
),
notified AS (
    SELECT pg_notify($14::text, '!cron_changed') FROM upserted
)
SELECT *
FROM upserted
WHERE (SELECT count(*) FROM notified) >= 0
