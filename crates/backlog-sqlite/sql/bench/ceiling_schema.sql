-- `backlog bench --scenario ceiling`: the statements that created the job table and its indexes
-- as they stand after every migration (SQLite rewrites the stored CREATE TABLE on ADD COLUMN),
-- table first. The caller renames backlog_job to bench_ceiling_job in them to create a scratch
-- table shaped like the job table.
SELECT sql
FROM sqlite_schema
WHERE tbl_name = 'backlog_job' AND sql IS NOT NULL
ORDER BY type = 'index', name
