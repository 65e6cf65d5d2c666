-- Worker processes as they report themselves on their heartbeat cadence, for the dashboard's
-- Workers page. A row whose heartbeat is old belongs to a process that died without removing it.
CREATE TABLE backlog_worker (
    id text PRIMARY KEY,
    host text NOT NULL,
    pid integer NOT NULL,
    kinds text[] NOT NULL DEFAULT '{}',
    -- [["queue", capacity], ...]
    queues jsonb NOT NULL DEFAULT '[]',
    capacity integer NOT NULL,
    in_flight integer NOT NULL,
    origin text NOT NULL,
    started_at timestamptz NOT NULL,
    heartbeat_at timestamptz NOT NULL
);

