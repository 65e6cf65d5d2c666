SELECT * FROM backlog_worker WHERE heartbeat_at >= :seen_since ORDER BY id
