DROP TABLE backlog_cron;
DROP TABLE backlog_leader;
