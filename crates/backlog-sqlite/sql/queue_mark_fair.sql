-- A queue received a keyed job: it becomes fair (its claims rotate over partition keys).
-- Written once: a queue already fair is left untouched.
INSERT INTO backlog_queue (name, fair, created_at, updated_at)
VALUES (:queue, 1, :now, :now)
ON CONFLICT (name) DO UPDATE SET fair = 1, updated_at = excluded.updated_at
WHERE NOT fair
