-- Where a window of the cleaner's sweep over the workflows ends: the id of the :limit-th
-- workflow above :after, or no row when fewer are left (the window then runs to the end).
SELECT id FROM backlog_workflow WHERE id > :after ORDER BY id LIMIT 1 OFFSET :limit - 1
