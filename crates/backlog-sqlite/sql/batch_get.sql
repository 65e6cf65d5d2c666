SELECT * FROM backlog_batch WHERE id = :id
