SELECT * FROM backlog_job WHERE id = $1::bigint
