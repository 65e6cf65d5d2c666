-- The cross-process watcher (src/notify.rs): the queues of the available jobs among those with
-- ids ?1 to ?2, jobs that another process inserted; a range scan of the table's b-tree over
-- those rows only.
SELECT DISTINCT queue FROM backlog_job WHERE id BETWEEN ?1 AND ?2 AND state = 'available'
