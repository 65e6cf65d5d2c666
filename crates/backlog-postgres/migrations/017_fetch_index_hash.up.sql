-- The claim index keyed by a 64-bit hash of the queue instead of the queue's text (issue #9).
-- Inserting a job compares its key with about ten others in a leaf page, on every column: a
-- text first column makes PostgreSQL locate each later column by walking the tuple, every
-- time. With fixed-width key columns their offsets are cached, and a bulk insert of 1,000 plain
-- jobs ran 6-10 % faster (docs/benchmarks.md). The queue's text is kept as an included column,
-- so the counts and the queue latency still read the index alone.
--
-- Every statement that reads it by queue names both the hash and the queue
-- (`hashtextextended(queue, 0) = hashtextextended($1, 0) AND queue = $1`): the hash finds the
-- range, the queue rules out another queue with the same hash. tests/plans.rs pins the plans.
-- The index is rebuilt here, over the available jobs only (it is partial): the table is locked
-- against writes while it builds.
DROP INDEX backlog_job_fetch;
CREATE INDEX backlog_job_fetch
    ON backlog_job (hashtextextended(queue, 0), priority DESC, scheduled_at, id)
    INCLUDE (queue)
    WHERE state = 'available';

-- The statements name both the hash and the queue; without this the planner multiplies their
-- selectivities as if independent, underestimates a queue's available jobs by that factor and,
-- for a large claim on an analyzed table, prefers sorting them to the ordered walk. The
-- dependency (the hash is a function of the queue) is learnt by ANALYZE.
CREATE STATISTICS backlog_job_queue_hash (dependencies)
    ON queue, (hashtextextended(queue, 0)) FROM backlog_job;
