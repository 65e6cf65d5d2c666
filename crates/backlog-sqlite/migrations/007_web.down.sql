DROP INDEX backlog_job_available_age;
DROP TABLE backlog_worker;
