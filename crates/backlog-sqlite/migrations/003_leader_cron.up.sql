-- Leader election: one row per lease name, held by `leader_id` until `expires_at`.
CREATE TABLE backlog_leader (
    name TEXT PRIMARY KEY CHECK (length(name) BETWEEN 1 AND 128),
    leader_id TEXT NOT NULL CHECK (length(leader_id) BETWEEN 1 AND 255),
    elected_at TEXT NOT NULL,
    expires_at TEXT NOT NULL
) STRICT;

-- Periodic jobs: one row per schedule. `next_run_at` is the next tick not yet enqueued; a tick
-- is taken by compare-and-set on it, in the transaction that inserts the tick's job.
CREATE TABLE backlog_cron (
    name TEXT PRIMARY KEY CHECK (length(name) BETWEEN 1 AND 255),
    kind TEXT NOT NULL CHECK (length(kind) BETWEEN 1 AND 255),
    args TEXT NOT NULL DEFAULT '{}',
    queue TEXT NOT NULL CHECK (length(queue) BETWEEN 1 AND 128),
    priority INTEGER NOT NULL DEFAULT 0,
    max_attempts INTEGER NOT NULL CHECK (max_attempts > 0),
    tags TEXT NOT NULL DEFAULT '[]',
    -- A cron expression, or `@every <duration>`.
    spec TEXT NOT NULL,
    timezone TEXT NOT NULL DEFAULT 'UTC',
    missed_policy TEXT NOT NULL DEFAULT 'skip' CHECK (
        missed_policy = 'skip' OR missed_policy = 'run_once' OR missed_policy = 'catch_up'
    ),
    next_run_at TEXT NOT NULL,
    last_run_at TEXT,
    enabled INTEGER NOT NULL DEFAULT 1,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
) STRICT;
