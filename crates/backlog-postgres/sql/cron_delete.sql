-- $1 name, $2 notification channel.
WITH deleted AS (
    DELETE FROM backlog_cron WHERE name = $1::text RETURNING name
),
notified AS (
    SELECT pg_notify($2::text, '!cron_changed') FROM deleted
)
SELECT (SELECT count(*) FROM deleted) AS deleted
WHERE (SELECT count(*) FROM notified) >= 0
