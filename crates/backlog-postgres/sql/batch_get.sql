SELECT * FROM backlog_batch WHERE id = $1::bigint
