-- Gives back rate-limit tokens taken for a fetch that claimed fewer jobs.
UPDATE backlog_rate_limit
SET tokens = min(max, tokens + :tokens)
WHERE key = :key
