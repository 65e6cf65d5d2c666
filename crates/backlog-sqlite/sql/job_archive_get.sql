-- The archived row, whole, as JSON (decoded into a JobRow by the caller).
SELECT job FROM backlog_job_archive WHERE id = :id
