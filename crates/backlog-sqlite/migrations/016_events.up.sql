-- Signals between processes that share the file: what PostgreSQL carries by NOTIFY (a queue
-- got available jobs that are not new rows, a running job's cancellation was requested, a
-- queue was resumed, a leader resigned, a cron schedule changed). Each row is written in the
-- transaction of the change it announces, so it becomes visible with that change; the
-- watcher of every other process reads the rows newer than its last look (src/notify.rs) and
-- skips those of its own process (`origin`, a number each process draws at random for the
-- file). New jobs need no row: the watcher finds them by their ids. Only the newest rows are
-- kept (sql/event_prune.sql); a watcher that finds it missed some polls every queue once.
CREATE TABLE backlog_event (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    origin INTEGER NOT NULL,
    -- 'available' (subject: the queue), 'cancel' (the job ids, comma-separated), 'resumed'
    -- (the queue), 'leader_resigned' (the lease's name), 'cron_changed' (no subject).
    kind TEXT NOT NULL,
    subject TEXT NOT NULL
) STRICT;
