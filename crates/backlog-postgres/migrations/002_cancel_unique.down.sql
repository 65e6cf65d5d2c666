DROP INDEX backlog_job_fingerprint;
DROP INDEX backlog_job_unique;
ALTER TABLE backlog_job
    DROP COLUMN fingerprint,
    DROP COLUMN unique_states,
    DROP COLUMN unique_key,
    DROP COLUMN cancel_requested_at;
