-- A job's own timeout, backoff and expiry, in columns of their own. Until this migration the
-- timeout and backoff given at enqueue were kept under reserved keys of the user's `metadata`
-- (`backlog_timeout_ms`, `backlog_backoff`); they are moved out here, so `metadata` holds only
-- what the user put there. All three are NULL for most jobs: nullable columns at the end of the
-- row cost nothing when NULL, and no index needs them.
ALTER TABLE backlog_job
    -- Longest one attempt may run, in milliseconds (NULL: the worker's or the kind's limit).
    ADD COLUMN timeout_ms bigint CHECK (timeout_ms > 0),
    -- The delay between attempts, as Backlog's stored backoff JSON (NULL: the worker's).
    ADD COLUMN backoff jsonb,
    -- Not started by then: discarded (reason `expired`) instead of running late.
    ADD COLUMN expires_at timestamptz;

UPDATE backlog_job
SET timeout_ms = CASE
        WHEN jsonb_typeof(metadata -> 'backlog_timeout_ms') = 'number'
            AND (metadata ->> 'backlog_timeout_ms')::numeric >= 1
            THEN (metadata ->> 'backlog_timeout_ms')::numeric::bigint
    END,
    backoff = metadata -> 'backlog_backoff',
    metadata = metadata - 'backlog_timeout_ms' - 'backlog_backoff'
WHERE metadata ? 'backlog_timeout_ms' OR metadata ? 'backlog_backoff';
