DROP TABLE backlog_job;
DROP TYPE backlog_job_state;
