-- Dropping the table drops its indexes and its sqlite_sequence entry.
DROP TABLE IF EXISTS backlog_job;
