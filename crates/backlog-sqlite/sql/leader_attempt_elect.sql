-- Takes the lease if absent, expired, or already ours (then extends it, keeping elected_at).
-- Whether it did is read from changes(): a DO UPDATE whose WHERE fails changes nothing.
INSERT INTO backlog_leader AS leader (name, leader_id, elected_at, expires_at)
VALUES (:name, :leader_id, :now, :expires_at)
ON CONFLICT (name) DO UPDATE
SET leader_id = excluded.leader_id,
    elected_at = CASE WHEN leader.leader_id = excluded.leader_id
        THEN leader.elected_at ELSE excluded.elected_at END,
    expires_at = excluded.expires_at
WHERE leader.expires_at < excluded.elected_at OR leader.leader_id = excluded.leader_id
