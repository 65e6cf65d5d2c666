-- $1 name, $2 leader_id, $3 notification channel.
-- Deletes the lease if ours and tells followers at commit (payload `!leader_resigned:<name>`;
-- `!` cannot start a queue name, so insert wake-ups are not confused with it).
WITH resigned AS (
    DELETE FROM backlog_leader
    WHERE name = $1::text AND leader_id = $2::text
    RETURNING name
),
notified AS (
    SELECT pg_notify($3::text, '!leader_resigned:' || name) FROM resigned
)
SELECT (SELECT count(*) FROM resigned) AS resigned
WHERE (SELECT count(*) FROM notified) >= 0
