-- One plain job's values, appended to job_insert_many_plain.sql once per job of a statement. ?1
-- is the creation time, shared by every row; each plain ? takes the next number.
(?1, ?, ?, ?, ?, ?, ?, ?)
