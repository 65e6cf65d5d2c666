-- Backlog's job table. Every Backlog statement uses unqualified names: the connection's
-- search_path selects the schema.

CREATE TYPE backlog_job_state AS ENUM (
    'available',
    'scheduled',
    'running',
    'retryable',
    'completed',
    'cancelled',
    'discarded'
);

CREATE TABLE backlog_job (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    state backlog_job_state NOT NULL DEFAULT 'available',
    queue text NOT NULL CHECK (char_length(queue) BETWEEN 1 AND 128),
    kind text NOT NULL CHECK (char_length(kind) BETWEEN 1 AND 255),
    args jsonb NOT NULL DEFAULT '{}',
    -- smallint bounds the priority to -32768..32767, the range of the Rust i16.
    priority smallint NOT NULL DEFAULT 0,
    attempt integer NOT NULL DEFAULT 0,
    max_attempts integer NOT NULL CHECK (max_attempts > 0),
    scheduled_at timestamptz NOT NULL DEFAULT now(),
    created_at timestamptz NOT NULL DEFAULT now(),
    attempted_at timestamptz,
    finalized_at timestamptz,
    lease_expires_at timestamptz,
    attempted_by text[] NOT NULL DEFAULT '{}',
    -- [{"attempt": int, "at": timestamp, "message": text, "panicked": bool}, ...]
    errors jsonb NOT NULL DEFAULT '[]',
    attempt_durations_us bigint[] NOT NULL DEFAULT '{}',
    tags text[] NOT NULL DEFAULT '{}',
    metadata jsonb NOT NULL DEFAULT '{}'
);

-- The claim query's index: one queue's available jobs in the order they are fetched.
CREATE INDEX backlog_job_fetch ON backlog_job (queue, priority DESC, scheduled_at, id)
    WHERE state = 'available';

-- The scheduler's index: waiting jobs by due time.
CREATE INDEX backlog_job_pending ON backlog_job (scheduled_at)
    WHERE state IN ('scheduled', 'retryable');

-- The rescuer's index: running jobs by lease expiry.
CREATE INDEX backlog_job_lease ON backlog_job (lease_expires_at)
    WHERE state = 'running';

-- The cleaner's index: finalized jobs by age.
CREATE INDEX backlog_job_finalized ON backlog_job (finalized_at)
    WHERE finalized_at IS NOT NULL;
