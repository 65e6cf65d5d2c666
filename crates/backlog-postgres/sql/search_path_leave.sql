-- Restores the search_path saved by search_path_enter.sql.
SELECT set_config('search_path', current_setting('backlog.saved_search_path'), false)
