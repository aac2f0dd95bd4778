-- Workload datasets (synthetic or ingested) and their records: one row per model call,
-- close to the OpenTelemetry GenAI conventions. A dataset is visible only once its row in
-- `datasets` exists; records of an unfinished write live under a staging name.
CREATE TABLE datasets (
    name         TEXT PRIMARY KEY,
    source       TEXT NOT NULL,          -- 'synthetic' | 'ingested'
    created_at   TEXT NOT NULL,
    record_count INTEGER NOT NULL,
    params       TEXT NOT NULL DEFAULT '{}',
    summary      TEXT NOT NULL DEFAULT '{}'
);

CREATE TABLE workload_records (
    dataset            TEXT NOT NULL,
    event_id           TEXT NOT NULL,
    trace_id           TEXT NOT NULL,
    span_id            TEXT NOT NULL,
    parent_span_id     TEXT,
    timestamp          TEXT NOT NULL,    -- RFC 3339, UTC, milliseconds
    tenant             TEXT NOT NULL,
    feature            TEXT NOT NULL,
    workload_type      TEXT NOT NULL,
    operation          TEXT NOT NULL,    -- gen_ai.operation.name: chat, text_completion, embeddings, execute_tool, invoke_agent
    provider           TEXT NOT NULL,
    model              TEXT NOT NULL,
    input_tokens       INTEGER NOT NULL,
    output_tokens      INTEGER NOT NULL,
    cache_read_tokens  INTEGER NOT NULL,
    cache_write_tokens INTEGER NOT NULL,
    reasoning_tokens   INTEGER NOT NULL,
    latency_ms         REAL NOT NULL,
    ttft_ms            REAL,
    status             TEXT NOT NULL,    -- 'ok' | 'error'
    error_type         TEXT,
    finish_reason      TEXT,
    prompt_hash        TEXT,
    cost_usd           REAL NOT NULL
);
CREATE INDEX workload_records_dataset_ts ON workload_records(dataset, timestamp);
