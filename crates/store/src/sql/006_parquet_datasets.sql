-- Workload records move to day-partitioned Parquet under <data-dir>/datasets/<name>/; the
-- catalog keeps what a reader needs to see a consistent dataset. A dataset's visible parts
-- are those numbered in [first_part, next_part): parts outside it belong to a write that
-- crashed or was replaced. Datasets registered before this migration keep their rows in
-- workload_records (storage 'sqlite') until they are converted (storage 'parquet').
ALTER TABLE datasets ADD COLUMN storage TEXT NOT NULL DEFAULT 'sqlite';
ALTER TABLE datasets ADD COLUMN first_part INTEGER NOT NULL DEFAULT 0;
ALTER TABLE datasets ADD COLUMN next_part INTEGER NOT NULL DEFAULT 0;
ALTER TABLE datasets ADD COLUMN spend_usd REAL NOT NULL DEFAULT 0;
ALTER TABLE datasets ADD COLUMN bytes INTEGER NOT NULL DEFAULT 0;
ALTER TABLE datasets ADD COLUMN first_ts TEXT;
ALTER TABLE datasets ADD COLUMN last_ts TEXT;
ALTER TABLE datasets ADD COLUMN updated_at TEXT;
-- Rows staged by an unfinished write of the old layout were never registered.
DELETE FROM workload_records WHERE dataset >= '~staging~' AND dataset < '~staging' || char(127);
