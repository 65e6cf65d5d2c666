-- Idempotency keys of enqueues, kept for their window even after the job is deleted. Written in
-- the enqueue's write transaction.
CREATE TABLE backlog_idempotency (
    key TEXT PRIMARY KEY NOT NULL,
    job_id INTEGER NOT NULL,
    expires_at TEXT NOT NULL
) WITHOUT ROWID;

CREATE INDEX backlog_idempotency_expires_at ON backlog_idempotency (expires_at);
