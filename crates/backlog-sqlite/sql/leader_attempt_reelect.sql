-- Extends the lease only if we still hold it.
UPDATE backlog_leader
SET expires_at = :expires_at
WHERE name = :name AND leader_id = :leader_id
