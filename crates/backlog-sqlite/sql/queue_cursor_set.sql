-- Fair claim, step 4: the next claim of :queue starts after :cursor, the last key served.
UPDATE backlog_queue SET partition_cursor = :cursor WHERE name = :queue
