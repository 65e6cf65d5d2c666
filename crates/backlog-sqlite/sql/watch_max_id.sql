-- The cross-process watcher (src/notify.rs): the newest job's id (NULL on an empty table), the
-- last entry of the table's b-tree. Ids only grow (AUTOINCREMENT), so a bigger one means jobs
-- were inserted since the last look.
SELECT max(id) FROM backlog_job
