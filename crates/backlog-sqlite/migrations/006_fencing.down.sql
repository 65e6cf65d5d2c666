ALTER TABLE backlog_job DROP COLUMN lease_token;
