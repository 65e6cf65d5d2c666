-- Copies one job, whole, as a JSON object into the archive (part of job_delete_finalized).
INSERT OR IGNORE INTO backlog_job_archive (
    id, queue, kind, state, created_at, finalized_at, archived_at, job
)
SELECT id, queue, kind, state, created_at, finalized_at, :now, json_object(
    'id', id, 'state', state, 'queue', queue, 'kind', kind, 'args', json(args),
    'priority', priority, 'attempt', attempt, 'max_attempts', max_attempts,
    'scheduled_at', scheduled_at, 'created_at', created_at, 'attempted_at', attempted_at,
    'finalized_at', finalized_at, 'attempted_by', json(attempted_by), 'errors', json(errors),
    'attempt_durations_us', json(attempt_durations_us), 'tags', json(tags),
    'metadata', json(metadata), 'rescue_count', rescue_count,
    'cancel_requested_at', cancel_requested_at, 'fingerprint', fingerprint,
    'result', json(result), 'progress', json(progress),
    'lease_token', CASE WHEN lease_token IS NOT NULL THEN lower(hex(lease_token)) END,
    'timeout_ms', timeout_ms, 'backoff', json(backoff), 'expires_at', expires_at
)
FROM backlog_job
WHERE id = :id
