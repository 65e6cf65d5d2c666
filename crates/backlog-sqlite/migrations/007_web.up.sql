-- Worker processes as they report themselves on their heartbeat cadence, for the dashboard's
-- Workers page. A row whose heartbeat is old belongs to a process that died without removing it.
CREATE TABLE backlog_worker (
    id TEXT PRIMARY KEY,
    host TEXT NOT NULL,
    pid INTEGER NOT NULL,
    kinds TEXT NOT NULL DEFAULT '[]',
    -- [["queue", capacity], ...]
    queues TEXT NOT NULL DEFAULT '[]',
    capacity INTEGER NOT NULL,
    in_flight INTEGER NOT NULL,
    origin TEXT NOT NULL,
    started_at TEXT NOT NULL,
    heartbeat_at TEXT NOT NULL
) STRICT;

