-- Back to the reserved metadata keys of migration 011 and before.
UPDATE backlog_job
SET metadata = metadata
    || CASE WHEN timeout_ms IS NULL THEN '{}'::jsonb
        ELSE jsonb_build_object('backlog_timeout_ms', timeout_ms) END
    || CASE WHEN backoff IS NULL THEN '{}'::jsonb
        ELSE jsonb_build_object('backlog_backoff', backoff) END
WHERE timeout_ms IS NOT NULL OR backoff IS NOT NULL;

ALTER TABLE backlog_job
    DROP COLUMN expires_at,
    DROP COLUMN backoff,
    DROP COLUMN timeout_ms;
