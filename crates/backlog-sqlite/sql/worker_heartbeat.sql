INSERT INTO backlog_worker (id, host, pid, kinds, queues, capacity, in_flight, origin, started_at,
                            heartbeat_at)
VALUES (:id, :host, :pid, :kinds, :queues, :capacity, :in_flight, :origin, :now, :now)
ON CONFLICT (id) DO UPDATE
SET host = excluded.host, pid = excluded.pid, kinds = excluded.kinds, queues = excluded.queues,
    capacity = excluded.capacity, in_flight = excluded.in_flight, origin = excluded.origin,
    heartbeat_at = excluded.heartbeat_at
