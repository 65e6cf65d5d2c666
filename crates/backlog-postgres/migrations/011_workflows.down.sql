DROP TABLE backlog_job_dependency;
DROP INDEX backlog_job_batch;
DROP INDEX backlog_job_workflow;
ALTER TABLE backlog_job DROP COLUMN workflow_id, DROP COLUMN deps_left, DROP COLUMN batch_id;
DROP TABLE backlog_batch;
DROP TABLE backlog_workflow;
