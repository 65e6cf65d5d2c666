-- Deletes up to $2 idempotency keys whose window ended by $1 (NULL: now()), oldest first.
WITH expired AS (
    SELECT key FROM backlog_idempotency
    WHERE expires_at <= coalesce($1::timestamptz, now())
    ORDER BY expires_at
    LIMIT $2::bigint
    FOR UPDATE SKIP LOCKED
),
deleted AS (
    DELETE FROM backlog_idempotency AS i
    USING expired
    WHERE i.key = expired.key
    RETURNING 1
)
SELECT count(*) FROM deleted
