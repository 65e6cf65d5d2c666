-- The cross-process watcher (src/notify.rs): a number that changes when another connection,
-- in this process or another, committed to the file since this connection last asked. Read
-- from the WAL's shared memory: no page is read.
PRAGMA data_version
