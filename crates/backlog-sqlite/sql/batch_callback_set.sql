-- Records the callback job enqueued for a finished batch.
UPDATE backlog_batch SET callback_job_id = :job_id WHERE id = :id
