-- The ids and the clock of a batch of plain jobs written by COPY (src/insert_copy.rs): $1 ids
-- drawn from the job sequence, as one array (the caller sorts them, so ids ascend in input
-- order as with job_insert_many.sql), and now(), the transaction's start time, which is what
-- now() returns to every later statement of the transaction: the caller decides each job's
-- state and scheduled_at with it exactly as job_insert_many.sql does in SQL. Run inside the
-- COPY's transaction.
SELECT array_agg(nextval('backlog_job_id_seq')) AS ids, now() AS now
FROM generate_series(1, $1::integer)
