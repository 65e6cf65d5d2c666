-- $1 queue, $2 now (NULL = database clock), $3 notification channel. The wake-up payload is
-- `resumed:<queue>`: queue names cannot contain `:`, so it never reads as an insert wake-up
-- (whose payload is the bare queue name).
WITH resumed AS (
    UPDATE backlog_queue
    SET paused_at = NULL,
        updated_at = coalesce($2::timestamptz, now())
    WHERE name = $1::text
      AND paused_at IS NOT NULL
    RETURNING name
),
notified AS (
    SELECT pg_notify($3::text, 'resumed:' || name) FROM resumed
)
SELECT name
FROM resumed
WHERE (SELECT count(*) FROM notified) >= 0
