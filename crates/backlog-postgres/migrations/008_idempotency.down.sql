DROP TABLE backlog_idempotency;
