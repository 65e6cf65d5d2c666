SELECT * FROM backlog_worker WHERE heartbeat_at >= $1 ORDER BY id
