-- After the fill: what autovacuum would do to a table grown by millions of rows (set the
-- visibility map and hint bits, refresh the planner's statistics).
VACUUM (ANALYZE) backlog_job
