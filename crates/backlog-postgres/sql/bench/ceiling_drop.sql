-- Drops the ceiling scenario's scratch table.
DROP TABLE IF EXISTS bench_ceiling_job
