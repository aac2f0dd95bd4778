-- Runs of every kind (index, generation, ingest, test, agent) and their event logs.
CREATE TABLE runs (
    id          TEXT PRIMARY KEY,
    kind        TEXT NOT NULL,
    status      TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    finished_at TEXT,
    params      TEXT NOT NULL DEFAULT '{}',
    result      TEXT
);
CREATE INDEX runs_kind_created ON runs(kind, created_at);

CREATE TABLE events (
    run_id TEXT NOT NULL,
    seq    INTEGER NOT NULL,
    ts     TEXT NOT NULL,
    event  TEXT NOT NULL,
    data   TEXT NOT NULL,
    PRIMARY KEY (run_id, seq)
) WITHOUT ROWID;
