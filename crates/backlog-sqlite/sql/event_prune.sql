-- Keeps the newest 4,096 signals (src/notify.rs): run after a transaction's signals are
-- written (?1 is the newest one's id), it deletes the few that fell out of that window, found
-- by the primary key. Watchers look every few milliseconds; one that missed rows polls every
-- queue once.
DELETE FROM backlog_event WHERE id <= ?1 - 4096
