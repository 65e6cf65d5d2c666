-- A job's own timeout, backoff and expiry, in columns of their own. Until this migration the
-- timeout and backoff given at enqueue were kept under reserved keys of the user's `metadata`
-- (`backlog_timeout_ms`, `backlog_backoff`); they are moved out here, so `metadata` holds only
-- what the user put there. Times are TEXT like every Backlog time (see 001_init).
-- Longest one attempt may run, in milliseconds (NULL: the worker's or the kind's limit).
ALTER TABLE backlog_job ADD COLUMN timeout_ms INTEGER CHECK (timeout_ms > 0);
-- The delay between attempts, as Backlog's stored backoff JSON (NULL: the worker's).
ALTER TABLE backlog_job ADD COLUMN backoff TEXT;
-- Not started by then: discarded (reason `expired`) instead of running late.
ALTER TABLE backlog_job ADD COLUMN expires_at TEXT;

UPDATE backlog_job
SET timeout_ms = CASE
        WHEN json_type(metadata, '$.backlog_timeout_ms') IN ('integer', 'real')
            AND json_extract(metadata, '$.backlog_timeout_ms') >= 1
            THEN CAST(json_extract(metadata, '$.backlog_timeout_ms') AS INTEGER)
    END,
    backoff = json_extract(metadata, '$.backlog_backoff'),
    metadata = json_remove(metadata, '$.backlog_timeout_ms', '$.backlog_backoff')
WHERE json_type(metadata, '$.backlog_timeout_ms') IS NOT NULL
    OR json_type(metadata, '$.backlog_backoff') IS NOT NULL;
