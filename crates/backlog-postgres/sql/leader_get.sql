-- $1 name.
SELECT name, leader_id, elected_at, expires_at
FROM backlog_leader
WHERE name = $1::text
