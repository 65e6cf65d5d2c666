-- Deletes one job if it is finalized; running and waiting jobs are left alone.
DELETE FROM backlog_job
WHERE id = :id AND (state = 'completed' OR state = 'cancelled' OR state = 'discarded')
