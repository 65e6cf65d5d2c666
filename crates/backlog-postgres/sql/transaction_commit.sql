-- Ends the transaction opened by transaction_begin.sql. In a transaction where a statement
-- failed, PostgreSQL rolls back instead (and reports no error): the caller checks every
-- statement's answer.
COMMIT
