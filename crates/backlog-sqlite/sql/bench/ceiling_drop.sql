-- Drops the ceiling scenario's scratch table (its indexes go with it).
DROP TABLE IF EXISTS bench_ceiling_job
