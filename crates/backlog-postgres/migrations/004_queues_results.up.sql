-- Flow control (queue settings, rate-limit buckets) and job results and progress.

-- One row per queue that was ever configured (paused, limited). Queues without a row run
-- unlimited: the fetch only looks here for a row with a setting, by primary key.
CREATE TABLE backlog_queue (
    name text PRIMARY KEY CHECK (char_length(name) BETWEEN 1 AND 128),
    paused_at timestamptz,
    -- Most jobs of the queue running at once across every process.
    max_running integer CHECK (max_running >= 0),
    -- Start rate limit: rate_max starts per rate_period_us, bucket `queue:<name>`.
    rate_max integer CHECK (rate_max > 0),
    rate_period_us bigint CHECK (rate_period_us > 0),
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CHECK ((rate_max IS NULL) = (rate_period_us IS NULL))
);

-- Token buckets, keyed `queue:<name>` or `kind:<kind>`. Tokens refill continuously at
-- max / period on the database clock; a row is created full on first use.
CREATE TABLE backlog_rate_limit (
    key text PRIMARY KEY,
    max integer NOT NULL CHECK (max > 0),
    period_us bigint NOT NULL CHECK (period_us > 0),
    tokens double precision NOT NULL,
    refilled_at timestamptz NOT NULL,
    -- Tokens granted by the latest take (RETURNING only sees new values).
    last_granted integer NOT NULL DEFAULT 0
);

ALTER TABLE backlog_job
    ADD COLUMN result jsonb,
    ADD COLUMN progress jsonb;
