-- Cancelling running jobs, unique jobs and fingerprints (docs/cancellation_and_uniqueness.md).

-- Set when cancellation of a running job is requested; cleared when the job is retried.
ALTER TABLE backlog_job ADD COLUMN cancel_requested_at TEXT;
-- A hash chosen by the client (kind, args, queue, period). NULL: not a unique job.
ALTER TABLE backlog_job ADD COLUMN unique_key BLOB;
-- Bitmask of the states in which the job holds its key: bit i is the i-th state (available = 1,
-- scheduled = 2, running = 4, retryable = 8, completed = 16, cancelled = 32, discarded = 64).
ALTER TABLE backlog_job ADD COLUMN unique_states INTEGER;
-- A searchable identifier of the user's choosing; not unique.
ALTER TABLE backlog_job ADD COLUMN fingerprint TEXT;

-- At most one job per key among the jobs whose state is in their own unique_states. An inline
-- CASE rather than an IN list (see 001). job_insert_many looks the key up with the same
-- expression, so the lookup uses this index; the index itself is the guarantee.
CREATE UNIQUE INDEX backlog_job_unique ON backlog_job (unique_key)
    WHERE CASE state
        WHEN 'available' THEN unique_states & 1
        WHEN 'scheduled' THEN unique_states & 2
        WHEN 'running' THEN unique_states & 4
        WHEN 'retryable' THEN unique_states & 8
        WHEN 'completed' THEN unique_states & 16
        WHEN 'cancelled' THEN unique_states & 32
        WHEN 'discarded' THEN unique_states & 64
    END <> 0;

-- Searching by fingerprint.
CREATE INDEX backlog_job_fingerprint ON backlog_job (fingerprint)
    WHERE fingerprint IS NOT NULL;
