-- Deletes one job (part of job_delete_finalized and job_purge_many).
DELETE FROM backlog_job WHERE id = :id
