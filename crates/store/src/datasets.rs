//! Workload datasets: registering, writing records atomically, listing, reading back.
//!
//! A dataset becomes visible only when [`DatasetWriter::commit`] runs: records are written
//! under a staging name inside one transaction, then renamed and registered together, so a
//! cancelled or crashed write leaves nothing behind.

use rusqlite::{OptionalExtension, Transaction, params};
use serde::Serialize;
use serde_json::Value;

use super::{Result, Store, StoreError};
use apex_core::events::now_ts;
use apex_core::workload::WorkloadRecord;

/// A registered dataset.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct DatasetInfo {
    pub name: String,
    pub source: String,
    pub created_at: String,
    pub record_count: u64,
    pub params: Value,
    pub summary: Value,
}

/// Dataset names: `[A-Za-z0-9._-]`, 1 to 64 characters.
pub fn validate_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if ok {
        Ok(())
    } else {
        Err(StoreError::Invalid(format!(
            "dataset name `{name}` is not accepted: use 1 to 64 characters of letters, digits, '.', '_' or '-'"
        )))
    }
}

/// Writes one dataset in a single transaction. Dropping it without `commit` rolls back.
pub struct DatasetWriter<'s> {
    tx: Transaction<'s>,
    staging: String,
    count: u64,
}

/// Start writing dataset `name`, replacing any dataset of that name when committed.
/// Holds the store's writer connection for the whole write: pass the guard's connection.
pub fn begin_write<'c>(
    conn: &'c mut rusqlite::Connection,
    name: &str,
) -> Result<DatasetWriter<'c>> {
    validate_name(name)?;
    super::checkpoint_before_bulk(conn);
    let tx = conn.transaction()?;
    let staging = format!("~staging~{name}");
    tx.execute(
        "DELETE FROM workload_records WHERE dataset = ?1",
        params![staging],
    )?;
    Ok(DatasetWriter {
        tx,
        staging,
        count: 0,
    })
}

impl DatasetWriter<'_> {
    /// Append records to the dataset being written.
    pub fn append(&mut self, records: &[WorkloadRecord]) -> Result<()> {
        insert_records(&self.tx, &self.staging, records)?;
        self.count += records.len() as u64;
        Ok(())
    }

    pub fn count(&self) -> u64 {
        self.count
    }

    /// Replace any older dataset of the same name and register this one, atomically.
    pub fn commit(
        self,
        name: &str,
        source: &str,
        params_json: &Value,
        summary: &Value,
    ) -> Result<DatasetInfo> {
        let info = register(
            &self.tx,
            name,
            &self.staging,
            self.count,
            source,
            params_json,
            summary,
        )?;
        self.tx.commit()?;
        Ok(info)
    }
}

/// A dataset staged batch by batch in a scratch file of its own (`<data-dir>/staging/`),
/// then copied into the store and registered in one transaction by
/// [`StagedDataset::commit`]. Use it when the writer must release the store between batches
/// (so that run events and other clients' writes go on meanwhile).
///
/// Until `commit`, nothing is in the store. A write that fails (a full disk) or is
/// cancelled removes its scratch file ([`StagedDataset::abort`]), which gives every byte it
/// took back at once; a failed registration is one rolled-back transaction, whose log the
/// store truncates. Scratch files of a killed writer are removed by
/// [`remove_abandoned_staging`].
#[derive(Debug)]
pub struct StagedDataset {
    name: String,
    staging: String,
    count: u64,
    scratch: Option<rusqlite::Connection>,
    path: std::path::PathBuf,
}

impl StagedDataset {
    /// Start staging dataset `name`; `token` makes the staging name unique to this write.
    pub fn begin(store: &Store, name: &str, token: &str) -> Result<Self> {
        validate_name(name)?;
        let staging = format!("~staging~{name}~{token}");
        let dir = staging_dir(store);
        let path = dir.join(format!("{name}~{token}.db"));
        let scratch_err = |e: &dyn std::fmt::Display| {
            store.explain(StoreError::Open {
                path: path.clone(),
                message: e.to_string(),
            })
        };
        std::fs::create_dir_all(&dir).map_err(|e| scratch_err(&e))?;
        let _ = std::fs::remove_file(&path);
        let scratch = rusqlite::Connection::open(&path).map_err(|e| scratch_err(&e))?;
        // A scratch file is thrown away after a crash: no journal, no sync.
        let ddl: String = store.read(|c| {
            Ok(c.query_row(
                "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'workload_records'",
                [],
                |r| r.get(0),
            )?)
        })?;
        let made = scratch
            .execute_batch("PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF;")
            .and_then(|_| scratch.execute_batch(&ddl));
        if let Err(e) = made {
            drop(scratch);
            let _ = std::fs::remove_file(&path);
            return Err(scratch_err(&e));
        }
        Ok(Self {
            name: name.to_string(),
            staging,
            count: 0,
            scratch: Some(scratch),
            path,
        })
    }

    /// Append records to the scratch file in one short transaction.
    pub fn append(&mut self, store: &Store, records: &[WorkloadRecord]) -> Result<()> {
        let scratch = self
            .scratch
            .as_mut()
            .ok_or_else(|| StoreError::Invalid("staged dataset already closed".into()))?;
        let written = (|| {
            let tx = scratch.transaction()?;
            insert_records(&tx, &self.staging, records)?;
            tx.commit()?;
            Ok(())
        })();
        written.map_err(|e| scratch_error(store, &self.path, e))?;
        self.count += records.len() as u64;
        Ok(())
    }

    pub fn count(&self) -> u64 {
        self.count
    }

    /// Copy the staged records into the store, replacing any older dataset of the same name,
    /// and register them: one durable transaction. The scratch file is removed either way.
    pub fn commit(
        mut self,
        store: &Store,
        source: &str,
        params_json: &Value,
        summary: &Value,
    ) -> Result<DatasetInfo> {
        self.scratch.take();
        let path = self.path.to_string_lossy().into_owned();
        let copied = store.write(|c| {
            super::checkpoint_before_bulk(c);
            c.execute("ATTACH DATABASE ?1 AS staging", params![path])?;
            let registered = (|| {
                let tx = c.transaction()?;
                tx.execute(
                    "DELETE FROM main.workload_records WHERE dataset = ?1",
                    params![self.name],
                )?;
                tx.execute(
                    &format!(
                        "INSERT INTO main.workload_records (dataset, {RECORD_FIELDS}) \
                         SELECT ?1, {RECORD_FIELDS} FROM staging.workload_records ORDER BY rowid"
                    ),
                    params![self.name],
                )?;
                let info =
                    record_dataset(&tx, &self.name, self.count, source, params_json, summary)?;
                tx.commit()?;
                Ok(info)
            })();
            let _ = c.execute("DETACH DATABASE staging", []);
            registered
        });
        let _ = std::fs::remove_file(&self.path);
        if copied.is_err() {
            store.reclaim_space();
        }
        copied
    }

    /// Drop the staged records (their scratch file); nothing was registered.
    pub fn abort(mut self, _store: &Store) -> Result<()> {
        self.scratch.take();
        match std::fs::remove_file(&self.path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(StoreError::Open {
                path: self.path.clone(),
                message: format!("cannot remove the staged records: {e}"),
            }),
            _ => Ok(()),
        }
    }
}

impl Drop for StagedDataset {
    fn drop(&mut self) {
        if self.scratch.take().is_some() {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// The columns of a workload record after `dataset`, in table order.
const RECORD_FIELDS: &str = "event_id, trace_id, span_id, parent_span_id, timestamp, \
    tenant, feature, workload_type, operation, provider, model, input_tokens, output_tokens, \
    cache_read_tokens, cache_write_tokens, reasoning_tokens, latency_ms, ttft_ms, status, \
    error_type, finish_reason, prompt_hash, cost_usd";

/// Where staged datasets are written: `<data-dir>/staging/`.
fn staging_dir(store: &Store) -> std::path::PathBuf {
    store
        .path()
        .parent()
        .unwrap_or(std::path::Path::new("."))
        .join("staging")
}

/// A failed write to a scratch file, named as the store's writes are (a full disk says so).
fn scratch_error(store: &Store, path: &std::path::Path, e: StoreError) -> StoreError {
    match store.explain(e) {
        StoreError::Full { message, .. } => StoreError::Full {
            path: path.to_path_buf(),
            message,
        },
        other => other,
    }
}

/// The staging token of a write by this process: its pid first, so that a later server can
/// tell staged rows of a live writer from those a killed one left behind.
pub fn staging_token(unique: u64) -> String {
    format!("{}-{unique:016x}", std::process::id())
}

/// Delete staged records whose writer is gone (a killed server or CLI left them: they were
/// never registered and never will be). Rows staged by a live process are kept. Returns
/// the number of records deleted.
pub fn remove_abandoned_staging(store: &Store) -> Result<u64> {
    let mut removed = remove_abandoned_scratch(store);
    const RANGE: &str = "dataset >= '~staging~' AND dataset < '~staging' || char(127)";
    let staged: Vec<String> = store.read(|c| {
        let mut stmt = c.prepare(&format!(
            "SELECT DISTINCT dataset FROM workload_records WHERE {RANGE}"
        ))?;
        let rows = stmt.query_map([], |r| r.get::<_, String>(0))?;
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
    })?;
    for name in staged {
        if staged_by_live_process(&name) {
            continue;
        }
        removed += store.write(|c| {
            Ok(c.execute(
                "DELETE FROM workload_records WHERE dataset = ?1",
                params![name],
            )? as u64)
        })?;
    }
    Ok(removed)
}

/// Remove the scratch files (`NAME~PID-UNIQUE.db`) of staging writers that are gone; returns
/// how many records they held.
fn remove_abandoned_scratch(store: &Store) -> u64 {
    let Ok(entries) = std::fs::read_dir(staging_dir(store)) else {
        return 0;
    };
    let mut removed = 0;
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(stem) = name.strip_suffix(".db") else {
            continue;
        };
        if staged_by_live_process(stem) {
            continue;
        }
        let records = rusqlite::Connection::open_with_flags(
            entry.path(),
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
        )
        .and_then(|c| {
            c.query_row("SELECT COUNT(*) FROM workload_records", [], |r| {
                r.get::<_, i64>(0)
            })
        })
        .unwrap_or(0);
        if std::fs::remove_file(entry.path()).is_ok() {
            removed += records.max(0) as u64;
        }
    }
    removed
}

/// `~staging~NAME~PID-UNIQUE`: is PID a live process? Unknown forms count as abandoned.
fn staged_by_live_process(staging: &str) -> bool {
    let pid = staging
        .rsplit('~')
        .next()
        .and_then(|token| token.split_once('-'))
        .and_then(|(pid, _)| pid.parse::<u32>().ok());
    match pid {
        Some(pid) if pid == std::process::id() => true,
        Some(pid) => apex_core::files::process_alive(pid),
        None => false,
    }
}

/// Is `pid` a running process? Without a cheap check (not Linux) every process counts as
/// live, so nothing a live writer owns is ever removed.
fn insert_records(tx: &Transaction<'_>, dataset: &str, records: &[WorkloadRecord]) -> Result<()> {
    let mut stmt = tx.prepare_cached(
        "INSERT INTO workload_records (dataset, event_id, trace_id, span_id, parent_span_id, timestamp,
           tenant, feature, workload_type, operation, provider, model, input_tokens, output_tokens,
           cache_read_tokens, cache_write_tokens, reasoning_tokens, latency_ms, ttft_ms, status,
           error_type, finish_reason, prompt_hash, cost_usd)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22, ?23, ?24)",
    )?;
    for r in records {
        stmt.execute(params![
            dataset,
            r.event_id,
            r.trace_id,
            r.span_id,
            r.parent_span_id,
            r.timestamp,
            r.tenant,
            r.feature,
            r.workload_type,
            r.operation,
            r.provider,
            r.model,
            r.input_tokens as i64,
            r.output_tokens as i64,
            r.cache_read_tokens as i64,
            r.cache_write_tokens as i64,
            r.reasoning_tokens as i64,
            r.latency_ms,
            r.ttft_ms,
            r.status,
            r.error_type,
            r.finish_reason,
            r.prompt_hash,
            r.cost_usd,
        ])?;
    }
    Ok(())
}

fn register(
    tx: &Transaction<'_>,
    name: &str,
    staging: &str,
    count: u64,
    source: &str,
    params_json: &Value,
    summary: &Value,
) -> Result<DatasetInfo> {
    tx.execute(
        "DELETE FROM workload_records WHERE dataset = ?1",
        params![name],
    )?;
    tx.execute(
        "UPDATE workload_records SET dataset = ?1 WHERE dataset = ?2",
        params![name, staging],
    )?;
    record_dataset(tx, name, count, source, params_json, summary)
}

/// Register dataset `name` (its records already in place), replacing an older registration.
fn record_dataset(
    tx: &Transaction<'_>,
    name: &str,
    count: u64,
    source: &str,
    params_json: &Value,
    summary: &Value,
) -> Result<DatasetInfo> {
    tx.execute("DELETE FROM datasets WHERE name = ?1", params![name])?;
    let created_at = now_ts();
    tx.execute(
        "INSERT INTO datasets (name, source, created_at, record_count, params, summary) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![name, source, created_at, count as i64, params_json.to_string(), summary.to_string()],
    )?;
    Ok(DatasetInfo {
        name: name.to_string(),
        source: source.to_string(),
        created_at,
        record_count: count,
        params: params_json.clone(),
        summary: summary.clone(),
    })
}

pub fn list(store: &Store) -> Result<Vec<DatasetInfo>> {
    store.read(|c| {
        let mut stmt = c.prepare(
            "SELECT name, source, created_at, record_count, params, summary FROM datasets ORDER BY name",
        )?;
        let rows = stmt.query_map([], row_to_info)?;
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
    })
}

pub fn get(store: &Store, name: &str) -> Result<Option<DatasetInfo>> {
    store.read(|c| {
        Ok(c.query_row(
            "SELECT name, source, created_at, record_count, params, summary FROM datasets WHERE name = ?1",
            params![name],
            row_to_info,
        )
        .optional()?)
    })
}

pub fn delete(store: &Store, name: &str) -> Result<bool> {
    store.write(|c| {
        let tx = c.transaction()?;
        tx.execute(
            "DELETE FROM workload_records WHERE dataset = ?1",
            params![name],
        )?;
        let n = tx.execute("DELETE FROM datasets WHERE name = ?1", params![name])?;
        tx.commit()?;
        Ok(n > 0)
    })
}

/// Read a dataset's records in timestamp order, `batch` at a time, calling `f` on each batch.
pub fn for_each_batch(
    store: &Store,
    name: &str,
    batch: usize,
    mut f: impl FnMut(&[WorkloadRecord]) -> Result<()>,
) -> Result<u64> {
    store.read(|c| {
        let mut stmt = c.prepare(
            "SELECT event_id, trace_id, span_id, parent_span_id, timestamp, tenant, feature, workload_type,
                    operation, provider, model, input_tokens, output_tokens, cache_read_tokens,
                    cache_write_tokens, reasoning_tokens, latency_ms, ttft_ms, status, error_type,
                    finish_reason, prompt_hash, cost_usd
             FROM workload_records WHERE dataset = ?1 ORDER BY timestamp, rowid",
        )?;
        let mut rows = stmt.query(params![name])?;
        let mut buf = Vec::with_capacity(batch);
        let mut total = 0u64;
        while let Some(r) = rows.next()? {
            buf.push(WorkloadRecord {
                event_id: r.get(0)?,
                trace_id: r.get(1)?,
                span_id: r.get(2)?,
                parent_span_id: r.get(3)?,
                timestamp: r.get(4)?,
                tenant: r.get(5)?,
                feature: r.get(6)?,
                workload_type: r.get(7)?,
                operation: r.get(8)?,
                provider: r.get(9)?,
                model: r.get(10)?,
                input_tokens: r.get::<_, i64>(11)? as u64,
                output_tokens: r.get::<_, i64>(12)? as u64,
                cache_read_tokens: r.get::<_, i64>(13)? as u64,
                cache_write_tokens: r.get::<_, i64>(14)? as u64,
                reasoning_tokens: r.get::<_, i64>(15)? as u64,
                latency_ms: r.get(16)?,
                ttft_ms: r.get(17)?,
                status: r.get(18)?,
                error_type: r.get(19)?,
                finish_reason: r.get(20)?,
                prompt_hash: r.get(21)?,
                cost_usd: r.get(22)?,
            });
            if buf.len() == batch {
                total += buf.len() as u64;
                f(&buf)?;
                buf.clear();
            }
        }
        if !buf.is_empty() {
            total += buf.len() as u64;
            f(&buf)?;
        }
        Ok(total)
    })
}

fn row_to_info(r: &rusqlite::Row<'_>) -> rusqlite::Result<DatasetInfo> {
    let params: String = r.get(4)?;
    let summary: String = r.get(5)?;
    Ok(DatasetInfo {
        name: r.get(0)?,
        source: r.get(1)?,
        created_at: r.get(2)?,
        record_count: r.get::<_, i64>(3)? as u64,
        params: serde_json::from_str(&params).unwrap_or(Value::Null),
        summary: serde_json::from_str(&summary).unwrap_or(Value::Null),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rec(i: u64) -> WorkloadRecord {
        WorkloadRecord {
            event_id: format!("e{i}"),
            trace_id: format!("t{i}"),
            span_id: format!("s{i}"),
            parent_span_id: None,
            timestamp: format!("2026-01-01T00:00:{:02}.000Z", i % 60),
            tenant: "acme".into(),
            feature: "chat".into(),
            workload_type: "simple_chat".into(),
            operation: "chat".into(),
            provider: "openai".into(),
            model: "gpt-4o".into(),
            input_tokens: 100,
            output_tokens: 50,
            cache_read_tokens: 0,
            cache_write_tokens: 0,
            reasoning_tokens: 0,
            latency_ms: 420.0,
            ttft_ms: Some(80.0),
            status: "ok".into(),
            error_type: None,
            finish_reason: Some("stop".into()),
            prompt_hash: Some("h".into()),
            cost_usd: 0.001,
        }
    }

    #[test]
    fn a_dataset_appears_only_on_commit_and_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("apex.db")).unwrap();
        store
            .write(|c| {
                let mut w = begin_write(c, "d1")?;
                w.append(&[rec(1), rec(2)])?;
                // dropped without commit: rolled back
                Ok(())
            })
            .unwrap();
        assert!(list(&store).unwrap().is_empty());
        store
            .write(|c| {
                let mut w = begin_write(c, "d1")?;
                w.append(&[rec(1), rec(2), rec(3)])?;
                w.commit("d1", "synthetic", &json!({"seed": 1}), &json!({}))?;
                Ok(())
            })
            .unwrap();
        let info = get(&store, "d1").unwrap().unwrap();
        assert_eq!(info.record_count, 3);
        let mut back = Vec::new();
        for_each_batch(&store, "d1", 2, |b| {
            back.extend_from_slice(b);
            Ok(())
        })
        .unwrap();
        assert_eq!(back, vec![rec(1), rec(2), rec(3)]);
        assert!(delete(&store, "d1").unwrap());
        assert!(validate_name("bad name").is_err());
    }

    #[test]
    fn abandoned_staging_is_removed_and_live_staging_kept() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("apex.db")).unwrap();
        // A writer that no longer exists (pid beyond any pid_max), an unknown form, and ours.
        let mut dead = StagedDataset::begin(&store, "dead", "4294967295-00ff").unwrap();
        dead.append(&store, &[rec(1), rec(2)]).unwrap();
        let mut legacy = StagedDataset::begin(&store, "legacy", "00ff").unwrap();
        legacy.append(&store, &[rec(3)]).unwrap();
        let mut live = StagedDataset::begin(&store, "live", &staging_token(7)).unwrap();
        live.append(&store, &[rec(4)]).unwrap();
        assert_eq!(remove_abandoned_staging(&store).unwrap(), 3);
        let live = live
            .commit(&store, "synthetic", &json!({}), &json!({}))
            .unwrap();
        assert_eq!(live.record_count, 1);
        let left: i64 = store
            .read(|c| Ok(c.query_row("SELECT COUNT(*) FROM workload_records", [], |r| r.get(0))?))
            .unwrap();
        assert_eq!(
            left, 1,
            "only the live writer's record is left, now registered"
        );
    }
}
