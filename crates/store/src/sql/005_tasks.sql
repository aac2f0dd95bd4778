-- Tasks of the MCP Tasks extension: each task names one run. A task is answered from here
-- when the server that created it is gone (restart) or no longer holds it in memory.
CREATE TABLE run_tasks (
    task_id     TEXT PRIMARY KEY,
    run_id      TEXT NOT NULL UNIQUE REFERENCES runs(id),
    tool        TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    ttl_ms      INTEGER,
    poll_ms     INTEGER,
    -- working, completed, failed or cancelled (the task's status, not the run's)
    status      TEXT NOT NULL DEFAULT 'working',
    -- completed: the tools/call result; failed: the JSON-RPC error
    result      TEXT,
    finished_at TEXT
);
