-- Indexes first: SQLite refuses to drop an indexed column.
DROP INDEX backlog_job_fingerprint;
DROP INDEX backlog_job_unique;
ALTER TABLE backlog_job DROP COLUMN fingerprint;
ALTER TABLE backlog_job DROP COLUMN unique_states;
ALTER TABLE backlog_job DROP COLUMN unique_key;
ALTER TABLE backlog_job DROP COLUMN cancel_requested_at;
