-- The server's version as a number (150004 for 15.4), read once per storage before its first
-- COPY (src/insert_copy.rs).
SELECT current_setting('server_version_num')::integer
