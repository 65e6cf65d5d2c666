-- The cross-process watcher (src/notify.rs): the newest signal's id (NULL when there is none),
-- the last entry of the table's b-tree.
SELECT max(id) FROM backlog_event
