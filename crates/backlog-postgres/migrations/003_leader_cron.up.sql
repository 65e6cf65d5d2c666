-- Leader election: one row per lease name, held by `leader_id` until `expires_at`.
CREATE TABLE backlog_leader (
    name text PRIMARY KEY CHECK (char_length(name) BETWEEN 1 AND 128),
    leader_id text NOT NULL CHECK (char_length(leader_id) BETWEEN 1 AND 255),
    elected_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL
);

-- Periodic jobs: one row per schedule. `next_run_at` is the next tick not yet enqueued; a tick
-- is taken by compare-and-set on it, in the transaction that inserts the tick's job.
CREATE TABLE backlog_cron (
    name text PRIMARY KEY CHECK (char_length(name) BETWEEN 1 AND 255),
    kind text NOT NULL CHECK (char_length(kind) BETWEEN 1 AND 255),
    args jsonb NOT NULL DEFAULT '{}',
    queue text NOT NULL CHECK (char_length(queue) BETWEEN 1 AND 128),
    priority smallint NOT NULL DEFAULT 0,
    max_attempts integer NOT NULL CHECK (max_attempts > 0),
    tags text[] NOT NULL DEFAULT '{}',
    -- A cron expression, or `@every <duration>`.
    spec text NOT NULL,
    timezone text NOT NULL DEFAULT 'UTC',
    missed_policy text NOT NULL DEFAULT 'skip'
        CHECK (missed_policy IN ('skip', 'run_once', 'catch_up')),
    next_run_at timestamptz NOT NULL,
    last_run_at timestamptz,
    enabled boolean NOT NULL DEFAULT true,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
