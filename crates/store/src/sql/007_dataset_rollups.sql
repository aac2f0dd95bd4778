-- What the rollup look-up found for one version of a dataset (its creation time and committed
-- part range): how many records are rollups of their children's usage, and the spend they
-- repeat. A report or an ingest over the same version reads it instead of joining the
-- records again; a version it does not name is looked up afresh.
CREATE TABLE dataset_rollups (
    name TEXT PRIMARY KEY,
    created_at TEXT NOT NULL,
    first_part INTEGER NOT NULL,
    next_part INTEGER NOT NULL,
    rollup_records INTEGER NOT NULL,
    rollup_spend_usd REAL NOT NULL,
    found_by TEXT NOT NULL
);
