-- Test runs (one per run_tests call; id = runs.id) and their per-test results.
CREATE TABLE test_runs (
    id          TEXT PRIMARY KEY,
    path        TEXT NOT NULL,
    framework   TEXT NOT NULL,
    suite       TEXT,
    filter      TEXT,
    command     TEXT NOT NULL,
    commit_sha  TEXT,
    dirty       INTEGER,
    status      TEXT NOT NULL,
    exit_code   INTEGER,
    started_at  TEXT NOT NULL,
    finished_at TEXT,
    duration_ms INTEGER,
    passed      INTEGER NOT NULL DEFAULT 0,
    failed      INTEGER NOT NULL DEFAULT 0,
    skipped     INTEGER NOT NULL DEFAULT 0,
    errored     INTEGER NOT NULL DEFAULT 0,
    log_path    TEXT,
    error       TEXT
);
CREATE INDEX test_runs_started ON test_runs(started_at);
CREATE INDEX test_runs_commit ON test_runs(commit_sha, path, framework);

CREATE TABLE test_results (
    run_id      TEXT NOT NULL REFERENCES test_runs(id) ON DELETE CASCADE,
    seq         INTEGER NOT NULL,
    grp         TEXT NOT NULL DEFAULT '',
    name        TEXT NOT NULL,
    status      TEXT NOT NULL,
    duration_ms REAL,
    message     TEXT,
    output      TEXT,
    file        TEXT,
    line        INTEGER,
    PRIMARY KEY (run_id, seq)
) WITHOUT ROWID;
CREATE INDEX test_results_name ON test_results(name, grp);
