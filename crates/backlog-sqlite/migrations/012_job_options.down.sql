-- Back to the reserved metadata keys of migration 011 and before.
UPDATE backlog_job
SET metadata = json_patch(
    metadata,
    json_object(
        'backlog_timeout_ms', timeout_ms,
        'backlog_backoff', json(backoff)
    )
)
WHERE timeout_ms IS NOT NULL OR backoff IS NOT NULL;

ALTER TABLE backlog_job DROP COLUMN expires_at;
ALTER TABLE backlog_job DROP COLUMN backoff;
ALTER TABLE backlog_job DROP COLUMN timeout_ms;
