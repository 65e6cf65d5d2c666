-- $1 queue, $2 now (NULL = database clock). Pausing a paused queue keeps its paused_at.
INSERT INTO backlog_queue AS queue (name, paused_at, created_at, updated_at)
VALUES ($1::text, coalesce($2::timestamptz, now()), coalesce($2::timestamptz, now()),
        coalesce($2::timestamptz, now()))
ON CONFLICT (name) DO UPDATE
SET paused_at = coalesce(queue.paused_at, excluded.paused_at),
    updated_at = excluded.updated_at
