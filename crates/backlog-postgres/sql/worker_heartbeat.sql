INSERT INTO backlog_worker (id, host, pid, kinds, queues, capacity, in_flight, origin, started_at,
                            heartbeat_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, coalesce($9, now()), coalesce($9, now()))
ON CONFLICT (id) DO UPDATE
SET host = excluded.host, pid = excluded.pid, kinds = excluded.kinds, queues = excluded.queues,
    capacity = excluded.capacity, in_flight = excluded.in_flight, origin = excluded.origin,
    heartbeat_at = excluded.heartbeat_at
