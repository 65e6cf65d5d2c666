-- Undoes, for the rest of the transaction, the `synchronous_commit = off` that
-- job_fetch_available.sql sets for its own transaction: run after a claim that shares a
-- transaction with an insert (job_insert_and_fetch), so that the insert's commit stays durable.
-- DEFAULT is the connection's value before any SET (its startup options or the server's).
SET LOCAL synchronous_commit TO DEFAULT
