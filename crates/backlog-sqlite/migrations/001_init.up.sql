-- Backlog's job table. Timestamps are TEXT `YYYY-MM-DDTHH:MM:SS.ffffffZ` (UTC, always six
-- fractional digits) so that comparing strings compares times; JSON columns are TEXT holding JSON.
CREATE TABLE backlog_job (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    -- Spelled as ORs, not `IN (...)`: SQLite evaluates a long IN list through a temporary
    -- b-tree built for every statement, which cost ~10% of a bulk insert.
    state TEXT NOT NULL CHECK (
        state = 'available' OR state = 'scheduled' OR state = 'running' OR state = 'retryable'
        OR state = 'completed' OR state = 'cancelled' OR state = 'discarded'
    ),
    queue TEXT NOT NULL CHECK (length(queue) BETWEEN 1 AND 128),
    kind TEXT NOT NULL CHECK (length(kind) BETWEEN 1 AND 255),
    args TEXT NOT NULL DEFAULT '{}',
    priority INTEGER NOT NULL DEFAULT 0,
    attempt INTEGER NOT NULL DEFAULT 0,
    max_attempts INTEGER NOT NULL CHECK (max_attempts > 0),
    scheduled_at TEXT NOT NULL,
    created_at TEXT NOT NULL,
    attempted_at TEXT,
    finalized_at TEXT,
    lease_expires_at TEXT,
    attempted_by TEXT NOT NULL DEFAULT '[]',
    errors TEXT NOT NULL DEFAULT '[]',
    attempt_durations_us TEXT NOT NULL DEFAULT '[]',
    tags TEXT NOT NULL DEFAULT '[]',
    metadata TEXT NOT NULL DEFAULT '{}'
) STRICT;

-- Fetching: the next available jobs of one queue, in run order.
CREATE INDEX backlog_job_fetch ON backlog_job (queue, priority DESC, scheduled_at, id)
    WHERE state = 'available';

-- Scheduling: waiting jobs whose time has come.
CREATE INDEX backlog_job_pending ON backlog_job (scheduled_at)
    WHERE state IN ('scheduled', 'retryable');

-- Rescuing: running jobs whose lease ran out.
CREATE INDEX backlog_job_lease ON backlog_job (lease_expires_at)
    WHERE state = 'running';

-- Cleaning: finalized jobs by age.
CREATE INDEX backlog_job_finalized ON backlog_job (finalized_at)
    WHERE finalized_at IS NOT NULL;
