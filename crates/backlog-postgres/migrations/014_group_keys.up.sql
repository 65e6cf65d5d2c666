-- Idempotent workflows and batches: a producer that resends a request (after a timeout, a lost
-- reply, a reconnect to another server) names it with the same key, and the second insert finds
-- the first instead of storing a copy. A key is kept as long as its workflow or batch row (until
-- the retention prunes it), so a resend is recognised for longer than a job's idempotency window.
-- A keyed workflow also keeps its jobs' ids in input order: the answer to a resend lists them
-- even after some jobs were pruned.
ALTER TABLE backlog_workflow
    ADD COLUMN idempotency_key text CHECK (octet_length(idempotency_key) BETWEEN 1 AND 255),
    ADD COLUMN job_ids bigint[];
CREATE UNIQUE INDEX backlog_workflow_idempotency
    ON backlog_workflow (idempotency_key) WHERE idempotency_key IS NOT NULL;

ALTER TABLE backlog_batch
    ADD COLUMN idempotency_key text CHECK (octet_length(idempotency_key) BETWEEN 1 AND 255);
CREATE UNIQUE INDEX backlog_batch_idempotency
    ON backlog_batch (idempotency_key) WHERE idempotency_key IS NOT NULL;
