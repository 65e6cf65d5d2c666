-- `backlog bench --scenario ceiling`: a scratch table shaped like the job table (the same
-- columns, defaults, constraints, identity and indexes, partial ones included), so raw SQL on it
-- pays the same heap and index work as Backlog's statements on backlog_job.
CREATE TABLE bench_ceiling_job (LIKE backlog_job INCLUDING ALL)
