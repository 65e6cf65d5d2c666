-- Fair claim, step 4: the next claim of queue $1 starts after $2, the last key served.
UPDATE backlog_queue SET partition_cursor = $2::text WHERE name = $1::text
