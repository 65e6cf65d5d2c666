DELETE FROM backlog_worker WHERE id = $1 RETURNING id
