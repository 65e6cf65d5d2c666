DROP INDEX backlog_batch_idempotency;
ALTER TABLE backlog_batch DROP COLUMN idempotency_key;
DROP INDEX backlog_workflow_idempotency;
ALTER TABLE backlog_workflow DROP COLUMN job_ids;
ALTER TABLE backlog_workflow DROP COLUMN idempotency_key;
