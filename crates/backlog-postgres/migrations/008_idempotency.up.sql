-- Idempotency keys of enqueues, kept for their window even after the job is deleted. Written in
-- the enqueue's transaction; the primary key makes concurrent inserts of one key yield one job.
CREATE TABLE backlog_idempotency (
    key text PRIMARY KEY,
    job_id bigint NOT NULL,
    expires_at timestamptz NOT NULL
);

CREATE INDEX backlog_idempotency_expires_at ON backlog_idempotency (expires_at);
