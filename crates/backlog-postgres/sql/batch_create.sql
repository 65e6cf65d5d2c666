-- Creates a batch: $1 parent (NULL: none), $2 description, $3 callback queue, $4 kind (NULL: no
-- callback), $5 args, $6 priority, $7 max attempts, $8 callback_on. A parent must be open: it
-- counts the new batch as a member, in the same statement. No row: the parent is missing or
-- sealed. $9 the producer's idempotency key (NULL: none); the caller looks the key up first
-- (batch_find_key.sql), and a concurrent creation of the same key fails this statement with a
-- unique violation on backlog_batch_idempotency.
WITH parent AS (
    UPDATE backlog_batch
    SET total = total + 1
    WHERE id = $1::bigint AND sealed_at IS NULL
    RETURNING id
)
INSERT INTO backlog_batch (
    parent_id, description, callback_queue, callback_kind, callback_args, callback_priority,
    callback_max_attempts, callback_on, idempotency_key
)
SELECT $1::bigint, $2::text, $3::text, $4::text, $5::jsonb, $6::smallint, $7::integer,
    $8::smallint, $9::text
WHERE $1::bigint IS NULL OR EXISTS (SELECT 1 FROM parent)
RETURNING id
