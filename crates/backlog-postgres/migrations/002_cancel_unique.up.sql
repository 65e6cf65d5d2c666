-- Cancelling running jobs, unique jobs and fingerprints (docs/cancellation_and_uniqueness.md).

ALTER TABLE backlog_job
    -- Set when cancellation of a running job is requested; its worker stops it and the attempt
    -- ends `cancelled`. Cleared when the job is retried.
    ADD COLUMN cancel_requested_at timestamptz,
    -- A hash chosen by the client (kind, args, queue, period). NULL: not a unique job.
    ADD COLUMN unique_key bytea,
    -- Bitmask of the states in which the job holds its key: bit i is the i-th state of
    -- backlog_job_state (available = 1, scheduled = 2, running = 4, retryable = 8,
    -- completed = 16, cancelled = 32, discarded = 64).
    ADD COLUMN unique_states smallint,
    -- A searchable identifier of the user's choosing; not unique.
    ADD COLUMN fingerprint text;

-- At most one job per key among the jobs whose state is in their own unique_states. The
-- predicate is an inline CASE (no function) so that it stays immutable and visible to the
-- planner; `ON CONFLICT (unique_key) WHERE <the same CASE>` in job_insert_many.sql infers this
-- index. Rows without a key have a NULL unique_states, so the CASE is NULL and they are left out.
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
