-- Pausing a paused queue keeps its paused_at.
INSERT INTO backlog_queue (name, paused_at, created_at, updated_at)
VALUES (:queue, :now, :now, :now)
ON CONFLICT (name) DO UPDATE
SET paused_at = coalesce(backlog_queue.paused_at, excluded.paused_at),
    updated_at = excluded.updated_at
