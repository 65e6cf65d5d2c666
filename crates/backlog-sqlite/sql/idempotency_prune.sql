-- Deletes up to :limit idempotency keys whose window has ended (oldest first).
DELETE FROM backlog_idempotency
WHERE key IN (
    SELECT key FROM backlog_idempotency
    WHERE expires_at <= :now
    ORDER BY expires_at
    LIMIT :limit
)
