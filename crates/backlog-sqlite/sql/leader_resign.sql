DELETE FROM backlog_leader
WHERE name = :name AND leader_id = :leader_id
