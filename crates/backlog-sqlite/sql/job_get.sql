SELECT * FROM backlog_job WHERE id = :id
