-- After the history fill (src/bench.rs): copy the fill's pages from the WAL into the database
-- file and truncate the WAL, as the checkpointer would have over the day the history stands
-- for. Without it the first measurements beside the history pay for a WAL of millions of rows
-- (every page read looks through its index). Returns busy, WAL pages and pages checkpointed.
PRAGMA wal_checkpoint(TRUNCATE)
