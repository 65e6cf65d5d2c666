-- The server's version, for the benchmark's report.
SELECT current_setting('server_version')
