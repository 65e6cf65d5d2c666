-- $1 channel, $2 queues. Sent by the wake-up task on its own connection, with
-- synchronous_commit off, after pooled inserts commit. See src/wakeup.rs for why the pooled
-- insert does not notify from its own transaction.
SELECT pg_notify($1::text, queue) FROM unnest($2::text[]) AS queue
