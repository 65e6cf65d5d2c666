-- The cross-process watcher (src/notify.rs): the signals written since its last look (ids
-- above ?1, up to ?2, the newest when it looked), oldest first, found by the primary key.
SELECT id, origin, kind, subject FROM backlog_event WHERE id > ?1 AND id <= ?2 ORDER BY id
