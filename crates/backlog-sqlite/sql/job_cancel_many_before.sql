-- The row as it was before job_cancel_many.sql changes it (SQLite's RETURNING only shows the new
-- values).
SELECT * FROM backlog_job WHERE id = :id AND state IN ('available', 'scheduled', 'retryable')
