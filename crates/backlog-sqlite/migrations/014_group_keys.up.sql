-- Idempotent workflows and batches: a producer that resends a request (after a timeout, a lost
-- reply, a reconnect) names it with the same key, and the second insert finds the first instead
-- of storing a copy. A key is kept as long as its workflow or batch row. A keyed workflow also
-- keeps its jobs' ids in input order (a JSON array), so the answer to a resend lists them even
-- after some jobs were pruned.
ALTER TABLE backlog_workflow
    ADD COLUMN idempotency_key TEXT CHECK (length(CAST(idempotency_key AS BLOB)) BETWEEN 1 AND 255);
ALTER TABLE backlog_workflow ADD COLUMN job_ids TEXT;
CREATE UNIQUE INDEX backlog_workflow_idempotency
    ON backlog_workflow (idempotency_key) WHERE idempotency_key IS NOT NULL;

ALTER TABLE backlog_batch
    ADD COLUMN idempotency_key TEXT CHECK (length(CAST(idempotency_key AS BLOB)) BETWEEN 1 AND 255);
CREATE UNIQUE INDEX backlog_batch_idempotency
    ON backlog_batch (idempotency_key) WHERE idempotency_key IS NOT NULL;
