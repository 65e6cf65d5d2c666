-- $1 name, $2 leader_id, $3 ttl in microseconds, $4 now (NULL = database clock).
-- Takes the lease if absent, expired, or already ours (then extends it, keeping elected_at).
INSERT INTO backlog_leader AS leader (name, leader_id, elected_at, expires_at)
VALUES (
    $1::text,
    $2::text,
    coalesce($4::timestamptz, now()),
    coalesce($4::timestamptz, now()) + $3::bigint * interval '1 microsecond'
)
ON CONFLICT (name) DO UPDATE
SET leader_id = excluded.leader_id,
    elected_at = CASE WHEN leader.leader_id = excluded.leader_id
        THEN leader.elected_at ELSE excluded.elected_at END,
    expires_at = excluded.expires_at
WHERE leader.expires_at < excluded.elected_at OR leader.leader_id = excluded.leader_id
RETURNING leader_id
