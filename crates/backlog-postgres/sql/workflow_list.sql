-- $1 a workflow id (NULL: any), $2 before id (NULL: from the newest), $3 limit. Per workflow,
-- its jobs per state (walking the partial index on workflow_id) and how many wait for
-- dependencies.
SELECT workflow.id, workflow.name, workflow.created_at,
    coalesce(counts.states, '{}'::jsonb) AS states,
    coalesce(counts.waiting, 0) AS waiting
FROM backlog_workflow AS workflow
LEFT JOIN LATERAL (
    SELECT jsonb_object_agg(per_state.state, per_state.n) AS states,
        sum(per_state.waiting)::bigint AS waiting
    FROM (
        SELECT state::text AS state, count(*) AS n,
            count(*) FILTER (WHERE deps_left > 0 AND state = 'scheduled') AS waiting
        FROM backlog_job
        WHERE workflow_id = workflow.id
        GROUP BY state
    ) AS per_state
) AS counts ON true
WHERE ($1::bigint IS NULL OR workflow.id = $1::bigint)
  AND ($2::bigint IS NULL OR workflow.id < $2::bigint)
ORDER BY workflow.id DESC
LIMIT $3::bigint
