DELETE FROM backlog_worker WHERE id = :id
