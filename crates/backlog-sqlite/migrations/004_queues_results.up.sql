-- Flow control (queue settings, rate-limit buckets) and job results and progress. See the
-- PostgreSQL migration of the same number for the meaning of each column.
CREATE TABLE backlog_queue (
    name TEXT PRIMARY KEY CHECK (length(name) BETWEEN 1 AND 128),
    paused_at TEXT,
    max_running INTEGER CHECK (max_running >= 0),
    rate_max INTEGER CHECK (rate_max > 0),
    rate_period_us INTEGER CHECK (rate_period_us > 0),
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    CHECK ((rate_max IS NULL) = (rate_period_us IS NULL))
) STRICT;

CREATE TABLE backlog_rate_limit (
    key TEXT PRIMARY KEY,
    max INTEGER NOT NULL CHECK (max > 0),
    period_us INTEGER NOT NULL CHECK (period_us > 0),
    tokens REAL NOT NULL,
    refilled_at TEXT NOT NULL
) STRICT;

ALTER TABLE backlog_job ADD COLUMN result TEXT;
ALTER TABLE backlog_job ADD COLUMN progress TEXT;
