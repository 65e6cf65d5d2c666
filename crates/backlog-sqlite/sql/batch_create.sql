-- Creates a batch (the parent, if any, was grown by batch_grow.sql in the same transaction).
INSERT INTO backlog_batch (
    parent_id, description, callback_queue, callback_kind, callback_args, callback_priority,
    callback_max_attempts, callback_on, created_at
)
VALUES (:parent, :description, :queue, :kind, :args, :priority, :max_attempts, :on, :now)
RETURNING id
