-- Creates a batch (the parent, if any, was grown by batch_grow.sql in the same transaction).
-- :key is the producer's idempotency key (NULL: none), looked up first (batch_find_key.sql).
INSERT INTO backlog_batch (
    parent_id, description, callback_queue, callback_kind, callback_args, callback_priority,
    callback_max_attempts, callback_on, created_at, idempotency_key
)
VALUES (:parent, :description, :queue, :kind, :args, :priority, :max_attempts, :on, :now, :key)
RETURNING id
