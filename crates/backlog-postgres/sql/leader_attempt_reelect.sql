-- $1 name, $2 leader_id, $3 ttl in microseconds, $4 now (NULL = database clock).
-- Extends the lease only if we still hold it.
UPDATE backlog_leader
SET expires_at = coalesce($4::timestamptz, now()) + $3::bigint * interval '1 microsecond'
WHERE name = $1::text AND leader_id = $2::text
RETURNING leader_id
