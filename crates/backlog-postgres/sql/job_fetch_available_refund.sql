-- Gives back rate-limit tokens taken for a fetch that claimed fewer jobs. $1 key, $2 tokens.
UPDATE backlog_rate_limit
SET tokens = least(max::double precision, tokens + $2::integer)
WHERE key = $1::text
