-- The wake-up connection's backend pid: the listener skips notifications it sent, because
-- this process's subscribers were already woken directly.
SELECT pg_backend_pid()
