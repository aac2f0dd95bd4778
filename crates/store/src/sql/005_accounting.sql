-- Record accounting (apex_core::workload): how many calls a record stands for, whether it is
-- an aggregated usage bucket of a provider report, and the data-quality flags ingest raised.
ALTER TABLE workload_records ADD COLUMN weight INTEGER NOT NULL DEFAULT 1;
ALTER TABLE workload_records ADD COLUMN aggregated INTEGER NOT NULL DEFAULT 0;
ALTER TABLE workload_records ADD COLUMN quality_flags TEXT;
