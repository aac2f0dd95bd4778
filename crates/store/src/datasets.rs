//! The dataset catalog: which workload datasets exist, where their records are, how many and
//! what they cost. The records themselves are Parquet part files (see `apex-datasets`); a row
//! here is what makes a dataset visible, and the committed part range in it is what makes a
//! write all-or-nothing: a write's parts count only once [`commit_parts`] has run.
//!
//! Datasets registered before the Parquet layout keep their rows in the `workload_records`
//! table (storage `sqlite`) until converted; [`for_each_legacy_batch`] reads them back.

use rusqlite::{OptionalExtension, Transaction, params};
use serde::Serialize;
use serde_json::Value;

use super::{Result, Store, StoreError};
use apex_core::events::now_ts;
use apex_core::workload::WorkloadRecord;

/// Where a dataset's records are.
pub const STORAGE_PARQUET: &str = "parquet";
/// Records still in the `workload_records` table, awaiting conversion.
pub const STORAGE_SQLITE: &str = "sqlite";
/// Parquet files that live where the user keeps them (a directory or an object-store URL,
/// `params.location`), read in place and never written or deleted by us.
pub const STORAGE_EXTERNAL: &str = "external";

/// A registered dataset.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct DatasetInfo {
    pub name: String,
    pub source: String,
    pub created_at: String,
    /// When records were last added (the creation time until an append).
    pub updated_at: String,
    pub record_count: u64,
    /// The summed `cost_usd` of every record.
    pub spend_usd: f64,
    /// Bytes of the committed part files.
    pub bytes: u64,
    /// The earliest and latest record timestamp.
    pub first: Option<String>,
    pub last: Option<String>,
    /// `parquet`, or `sqlite` for a dataset not yet converted.
    pub storage: String,
    pub params: Value,
    pub summary: Value,
    /// Committed part numbers: `first_part..next_part`.
    #[serde(skip)]
    pub first_part: u64,
    #[serde(skip)]
    pub next_part: u64,
}

impl DatasetInfo {
    /// Where an attached (external) dataset's files are; `None` for our own datasets.
    pub fn location(&self) -> Option<&str> {
        if self.storage == STORAGE_EXTERNAL {
            self.params.get("location").and_then(Value::as_str)
        } else {
            None
        }
    }
}

/// The refusal of a write to an attached dataset.
pub fn external_is_read_only(info: &DatasetInfo) -> StoreError {
    StoreError::Invalid(format!(
        "dataset `{}` is attached from {} and is read-only here: its files are yours; write to another dataset name, or detach it first with `netra-apex datasets delete {}` (its files are kept)",
        info.name,
        info.location().unwrap_or("elsewhere"),
        info.name
    ))
}

/// Dataset names: `[A-Za-z0-9._-]`, 1 to 64 characters, not starting with '.'.
pub fn validate_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if ok {
        Ok(())
    } else {
        Err(StoreError::Invalid(format!(
            "dataset name `{name}` is not accepted: use 1 to 64 characters of letters, digits, '.', '_' or '-', not starting with '.'"
        )))
    }
}

/// What a finished write adds to the catalog.
#[derive(Debug, Clone)]
pub struct PartsCommit<'a> {
    pub name: &'a str,
    pub source: &'a str,
    pub params: &'a Value,
    pub summary: &'a Value,
    /// Replace the dataset's records (parts before `first_part` stop counting) rather than
    /// add to them.
    pub replace: bool,
    /// The catalog's `next_part` when the write began: a different value now means another
    /// writer committed meanwhile, and this commit is refused.
    pub expected_next_part: u64,
    /// The first part number of this write and one past its last.
    pub first_part: u64,
    pub next_part: u64,
    pub records: u64,
    pub spend_usd: f64,
    pub bytes: u64,
    pub first: Option<&'a str>,
    pub last: Option<&'a str>,
    /// The creation time to keep (a conversion keeps the dataset's); now when `None`.
    pub created_at: Option<&'a str>,
}

/// Register a finished write in one transaction. Replacing a dataset whose records were in
/// the `workload_records` table drops those rows in the same transaction.
pub fn commit_parts(store: &Store, c: &PartsCommit<'_>) -> Result<DatasetInfo> {
    validate_name(c.name)?;
    store.write(|conn| {
        let tx = conn.transaction()?;
        let old = get_in(&tx, c.name)?;
        if let Some(o) = old.as_ref().filter(|o| o.storage == STORAGE_EXTERNAL) {
            return Err(external_is_read_only(o));
        }
        let found_next = old.as_ref().map_or(0, |o| o.next_part);
        if old.as_ref().is_some_and(|o| o.storage == STORAGE_PARQUET)
            && found_next != c.expected_next_part
        {
            return Err(StoreError::Invalid(format!(
                "dataset `{}` was written by another writer meanwhile (parts up to {found_next}, expected {}); nothing of this write was registered",
                c.name, c.expected_next_part
            )));
        }
        let now = now_ts();
        let appended = !c.replace && old.is_some();
        let info = match old {
            Some(o) if appended => DatasetInfo {
                updated_at: now,
                record_count: o.record_count + c.records,
                spend_usd: o.spend_usd + c.spend_usd,
                bytes: o.bytes + c.bytes,
                first: min_opt(o.first, c.first),
                last: max_opt(o.last, c.last),
                summary: if c.summary.is_null() {
                    o.summary
                } else {
                    c.summary.clone()
                },
                next_part: c.next_part,
                ..o
            },
            old => {
                if old.as_ref().is_some_and(|o| o.storage == STORAGE_SQLITE) {
                    tx.execute(
                        "DELETE FROM workload_records WHERE dataset = ?1",
                        params![c.name],
                    )?;
                }
                DatasetInfo {
                    name: c.name.to_string(),
                    source: c.source.to_string(),
                    created_at: c.created_at.map_or_else(|| now.clone(), str::to_string),
                    updated_at: now,
                    record_count: c.records,
                    spend_usd: c.spend_usd,
                    bytes: c.bytes,
                    first: c.first.map(str::to_string),
                    last: c.last.map(str::to_string),
                    storage: STORAGE_PARQUET.to_string(),
                    params: c.params.clone(),
                    summary: c.summary.clone(),
                    first_part: c.first_part,
                    next_part: c.next_part,
                }
            }
        };
        put(&tx, &info)?;
        tx.commit()?;
        Ok(info)
    })
}

/// Write a catalog row, inserting or replacing the dataset's.
fn put(tx: &Transaction<'_>, info: &DatasetInfo) -> Result<()> {
    tx.execute(
        "INSERT INTO datasets (name, source, created_at, updated_at, record_count, spend_usd, bytes,
            first_ts, last_ts, storage, params, summary, first_part, next_part)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)
         ON CONFLICT(name) DO UPDATE SET source = excluded.source, created_at = excluded.created_at,
            updated_at = excluded.updated_at, record_count = excluded.record_count,
            spend_usd = excluded.spend_usd, bytes = excluded.bytes, first_ts = excluded.first_ts,
            last_ts = excluded.last_ts, storage = excluded.storage, params = excluded.params,
            summary = excluded.summary, first_part = excluded.first_part, next_part = excluded.next_part",
        params![
            info.name,
            info.source,
            info.created_at,
            info.updated_at,
            info.record_count as i64,
            info.spend_usd,
            info.bytes as i64,
            info.first,
            info.last,
            info.storage,
            info.params.to_string(),
            info.summary.to_string(),
            info.first_part as i64,
            info.next_part as i64
        ],
    )?;
    Ok(())
}

/// The refusal of an attach under a name already in use.
pub fn name_taken(old: &DatasetInfo) -> StoreError {
    StoreError::Invalid(format!(
        "dataset `{}` already exists ({} records, {}); attach under another name, or remove it first with `netra-apex datasets delete {}`",
        old.name, old.record_count, old.storage, old.name
    ))
}

/// What attaching a directory of Parquet files registers: its figures as found.
#[derive(Debug, Clone)]
pub struct ExternalAttach<'a> {
    pub name: &'a str,
    /// The directory, file or object-store URL, as the reader will open it.
    pub location: &'a str,
    pub records: u64,
    pub spend_usd: f64,
    pub bytes: u64,
    pub first: Option<&'a str>,
    pub last: Option<&'a str>,
    pub summary: &'a Value,
}

/// Register an attached dataset (storage `external`). A name already in use is refused.
pub fn attach_external(store: &Store, a: &ExternalAttach<'_>) -> Result<DatasetInfo> {
    validate_name(a.name)?;
    store.write(|conn| {
        let tx = conn.transaction()?;
        if let Some(old) = get_in(&tx, a.name)? {
            return Err(name_taken(&old));
        }
        let now = now_ts();
        let info = DatasetInfo {
            name: a.name.to_string(),
            source: "attached".to_string(),
            created_at: now.clone(),
            updated_at: now,
            record_count: a.records,
            spend_usd: a.spend_usd,
            bytes: a.bytes,
            first: a.first.map(str::to_string),
            last: a.last.map(str::to_string),
            storage: STORAGE_EXTERNAL.to_string(),
            params: serde_json::json!({ "location": a.location }),
            summary: a.summary.clone(),
            first_part: 0,
            next_part: 0,
        };
        put(&tx, &info)?;
        tx.commit()?;
        Ok(info)
    })
}

fn min_opt(a: Option<String>, b: Option<&str>) -> Option<String> {
    match (a, b) {
        (Some(a), Some(b)) => Some(if b < a.as_str() { b.to_string() } else { a }),
        (a, b) => a.or(b.map(str::to_string)),
    }
}

fn max_opt(a: Option<String>, b: Option<&str>) -> Option<String> {
    match (a, b) {
        (Some(a), Some(b)) => Some(if b > a.as_str() { b.to_string() } else { a }),
        (a, b) => a.or(b.map(str::to_string)),
    }
}

const SELECT_INFO: &str = "SELECT name, source, created_at, COALESCE(updated_at, created_at), record_count,
    spend_usd, bytes, first_ts, last_ts, storage, params, summary, first_part, next_part FROM datasets";

fn row_to_info(r: &rusqlite::Row<'_>) -> rusqlite::Result<DatasetInfo> {
    let params: String = r.get(10)?;
    let summary: String = r.get(11)?;
    Ok(DatasetInfo {
        name: r.get(0)?,
        source: r.get(1)?,
        created_at: r.get(2)?,
        updated_at: r.get(3)?,
        record_count: r.get::<_, i64>(4)?.max(0) as u64,
        spend_usd: r.get(5)?,
        bytes: r.get::<_, i64>(6)?.max(0) as u64,
        first: r.get(7)?,
        last: r.get(8)?,
        storage: r.get(9)?,
        params: serde_json::from_str(&params).unwrap_or(Value::Null),
        summary: serde_json::from_str(&summary).unwrap_or(Value::Null),
        first_part: r.get::<_, i64>(12)?.max(0) as u64,
        next_part: r.get::<_, i64>(13)?.max(0) as u64,
    })
}

fn get_in(tx: &Transaction<'_>, name: &str) -> Result<Option<DatasetInfo>> {
    Ok(tx
        .query_row(
            &format!("{SELECT_INFO} WHERE name = ?1"),
            params![name],
            row_to_info,
        )
        .optional()?)
}

pub fn list(store: &Store) -> Result<Vec<DatasetInfo>> {
    store.read(|c| {
        let mut stmt = c.prepare(&format!("{SELECT_INFO} ORDER BY name"))?;
        let rows = stmt.query_map([], row_to_info)?;
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
    })
}

pub fn get(store: &Store, name: &str) -> Result<Option<DatasetInfo>> {
    store.read(|c| {
        Ok(c.query_row(
            &format!("{SELECT_INFO} WHERE name = ?1"),
            params![name],
            row_to_info,
        )
        .optional()?)
    })
}

/// Unregister a dataset (and drop its rows if they were still in SQLite). Its part files
/// are the caller's to remove; once unregistered they are never read.
pub fn delete(store: &Store, name: &str) -> Result<bool> {
    store.write(|c| {
        let tx = c.transaction()?;
        tx.execute(
            "DELETE FROM workload_records WHERE dataset = ?1",
            params![name],
        )?;
        tx.execute("DELETE FROM dataset_rollups WHERE name = ?1", params![name])?;
        let n = tx.execute("DELETE FROM datasets WHERE name = ?1", params![name])?;
        tx.commit()?;
        Ok(n > 0)
    })
}

// ---------------------------------------------------------------- rollups, per version

/// What the rollup look-up found for one version of a dataset: the records that are rollups
/// of their children's usage and the spend they repeat.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rollups {
    pub records: u64,
    pub spend_usd: f64,
}

/// The rollups recorded for the version of `info` (its creation time and committed parts),
/// if any were. Only our own Parquet datasets have versions here: an attached dataset's is
/// its listing ([`listing_rollups`]).
pub fn rollups_of(store: &Store, info: &DatasetInfo) -> Result<Option<Rollups>> {
    if info.storage != STORAGE_PARQUET {
        return Ok(None);
    }
    recorded(store, &Version::of(info))
}

/// Record what the rollup look-up found for the version of `info`; `found_by` says how (the
/// look-up's query, or the writer that knows by construction). Replaces an older version's.
/// Nothing is recorded for a dataset that is not our own Parquet, or that has moved on to
/// another version meanwhile.
pub fn record_rollups(
    store: &Store,
    info: &DatasetInfo,
    rollups: Rollups,
    found_by: &str,
) -> Result<()> {
    if info.storage != STORAGE_PARQUET {
        return Ok(());
    }
    record(store, &Version::of(info), rollups, found_by, |now| {
        now.created_at == info.created_at
            && now.first_part == info.first_part
            && now.next_part == info.next_part
    })
}

/// The rollups recorded for an attached dataset's `listing` (its version: a hash of its
/// files' listing), if any were. A dataset that was attached again elsewhere, or whose files
/// changed, has another listing.
pub fn listing_rollups(store: &Store, name: &str, listing: u64) -> Result<Option<Rollups>> {
    recorded(store, &Version::listing(name, listing))
}

/// Record what the rollup look-up found for an attached dataset's `listing`; nothing when
/// the name is no longer an attached dataset.
pub fn record_listing_rollups(
    store: &Store,
    name: &str,
    listing: u64,
    rollups: Rollups,
) -> Result<()> {
    record(
        store,
        &Version::listing(name, listing),
        rollups,
        "look-up",
        |now| now.storage == STORAGE_EXTERNAL,
    )
}

/// What a `dataset_rollups` row is valid for: our own dataset's creation time and committed
/// parts, or an attached dataset's listing (parts 0 and 0).
struct Version<'a> {
    name: &'a str,
    created_at: String,
    first_part: u64,
    next_part: u64,
}

impl<'a> Version<'a> {
    fn of(info: &'a DatasetInfo) -> Self {
        Version {
            name: &info.name,
            created_at: info.created_at.clone(),
            first_part: info.first_part,
            next_part: info.next_part,
        }
    }

    fn listing(name: &'a str, listing: u64) -> Self {
        Version {
            name,
            created_at: listing_key(listing),
            first_part: 0,
            next_part: 0,
        }
    }
}

fn recorded(store: &Store, v: &Version<'_>) -> Result<Option<Rollups>> {
    store.read(|c| {
        Ok(c.query_row(
            "SELECT rollup_records, rollup_spend_usd FROM dataset_rollups
             WHERE name = ?1 AND created_at = ?2 AND first_part = ?3 AND next_part = ?4",
            params![
                v.name,
                v.created_at,
                v.first_part as i64,
                v.next_part as i64
            ],
            |r| {
                Ok(Rollups {
                    records: r.get::<_, i64>(0)?.max(0) as u64,
                    spend_usd: r.get(1)?,
                })
            },
        )
        .optional()?)
    })
}

/// Record `rollups` for `v`, replacing the name's older row, when the catalog's entry for
/// the name is still the one `current` accepts.
fn record(
    store: &Store,
    v: &Version<'_>,
    rollups: Rollups,
    found_by: &str,
    current: impl Fn(&DatasetInfo) -> bool,
) -> Result<()> {
    store.write(|c| {
        let tx = c.transaction()?;
        if get_in(&tx, v.name)?.is_some_and(|now| current(&now)) {
            tx.execute(
                "INSERT INTO dataset_rollups (name, created_at, first_part, next_part,
                    rollup_records, rollup_spend_usd, found_by)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
                 ON CONFLICT(name) DO UPDATE SET created_at = excluded.created_at,
                    first_part = excluded.first_part, next_part = excluded.next_part,
                    rollup_records = excluded.rollup_records,
                    rollup_spend_usd = excluded.rollup_spend_usd, found_by = excluded.found_by",
                params![
                    v.name,
                    v.created_at,
                    v.first_part as i64,
                    v.next_part as i64,
                    rollups.records as i64,
                    rollups.spend_usd,
                    found_by
                ],
            )?;
        }
        tx.commit()?;
        Ok(())
    })
}

/// How an attached dataset's listing is kept in `dataset_rollups.created_at` (no creation
/// time of ours looks like it).
fn listing_key(listing: u64) -> String {
    format!("listing:{listing:016x}")
}

// ---------------------------------------------------------------- the old layout

/// Datasets whose records are still rows of the `workload_records` table.
pub fn legacy_datasets(store: &Store) -> Result<Vec<DatasetInfo>> {
    Ok(list(store)?
        .into_iter()
        .filter(|d| d.storage == STORAGE_SQLITE)
        .collect())
}

/// Row count and summed cost of a dataset's rows in the `workload_records` table.
pub fn legacy_totals(store: &Store, name: &str) -> Result<(u64, f64)> {
    store.read(|c| {
        Ok(c.query_row(
            "SELECT COUNT(*), COALESCE(SUM(cost_usd), 0) FROM workload_records WHERE dataset = ?1",
            params![name],
            |r| Ok((r.get::<_, i64>(0)?.max(0) as u64, r.get::<_, f64>(1)?)),
        )?)
    })
}

/// Read a dataset's rows from the `workload_records` table in timestamp order, `batch` at
/// a time, calling `f` on each batch. Returns the number of rows read.
pub fn for_each_legacy_batch(
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
                input_tokens: r.get::<_, i64>(11)?.max(0) as u64,
                output_tokens: r.get::<_, i64>(12)?.max(0) as u64,
                cache_read_tokens: r.get::<_, i64>(13)?.max(0) as u64,
                cache_write_tokens: r.get::<_, i64>(14)?.max(0) as u64,
                reasoning_tokens: r.get::<_, i64>(15)?.max(0) as u64,
                latency_ms: r.get(16)?,
                ttft_ms: r.get(17)?,
                status: r.get(18)?,
                error_type: r.get(19)?,
                finish_reason: r.get(20)?,
                prompt_hash: r.get(21)?,
                cost_usd: r.get(22)?,
                // the SQLite layout had no accounting: every row was one clean call
                weight: 1,
                aggregated: false,
                quality_flags: None,
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

/// Rows of the old layout, written as a version-4 store would have: for tests of the
/// conversion and for nothing else.
#[doc(hidden)]
pub fn insert_legacy(
    store: &Store,
    name: &str,
    source: &str,
    records: &[WorkloadRecord],
) -> Result<()> {
    store.write(|c| {
        let tx = c.transaction()?;
        {
            let mut stmt = tx.prepare_cached(
                "INSERT INTO workload_records (dataset, event_id, trace_id, span_id, parent_span_id, timestamp,
                   tenant, feature, workload_type, operation, provider, model, input_tokens, output_tokens,
                   cache_read_tokens, cache_write_tokens, reasoning_tokens, latency_ms, ttft_ms, status,
                   error_type, finish_reason, prompt_hash, cost_usd)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22, ?23, ?24)",
            )?;
            for r in records {
                stmt.execute(params![
                    name,
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
        }
        tx.execute(
            "INSERT OR REPLACE INTO datasets (name, source, created_at, record_count, params, summary, storage)
             VALUES (?1, ?2, ?3, ?4, '{}', '{}', 'sqlite')",
            params![name, source, now_ts(), records.len() as i64],
        )?;
        tx.commit()?;
        Ok(())
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
            weight: 1,
            aggregated: false,
            quality_flags: None,
        }
    }

    fn commit<'a>(
        name: &'a str,
        replace: bool,
        expected: u64,
        parts: (u64, u64),
    ) -> PartsCommit<'a> {
        PartsCommit {
            name,
            source: "ingested",
            params: &Value::Null,
            summary: &Value::Null,
            replace,
            expected_next_part: expected,
            first_part: parts.0,
            next_part: parts.1,
            records: 10,
            spend_usd: 1.5,
            bytes: 100,
            first: Some("2026-01-02T00:00:00.000Z"),
            last: Some("2026-01-03T00:00:00.000Z"),
            created_at: None,
        }
    }

    #[test]
    fn commits_append_replace_and_refuse_a_stale_writer() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("apex.db")).unwrap();
        let a = commit_parts(&store, &commit("d", false, 0, (0, 2))).unwrap();
        assert_eq!((a.record_count, a.first_part, a.next_part), (10, 0, 2));
        let mut more = commit("d", false, 2, (2, 3));
        more.first = Some("2026-01-01T00:00:00.000Z");
        let b = commit_parts(&store, &more).unwrap();
        assert_eq!((b.record_count, b.first_part, b.next_part), (20, 0, 3));
        assert_eq!(b.spend_usd, 3.0);
        assert_eq!(b.first.as_deref(), Some("2026-01-01T00:00:00.000Z"));
        assert_eq!(b.created_at, a.created_at);
        let stale = commit_parts(&store, &commit("d", false, 2, (3, 4))).unwrap_err();
        assert!(stale.to_string().contains("another writer"), "{stale}");
        let c = commit_parts(&store, &commit("d", true, 3, (3, 5))).unwrap();
        assert_eq!((c.record_count, c.first_part, c.next_part), (10, 3, 5));
        assert_eq!(get(&store, "d").unwrap().unwrap(), c);
        assert!(delete(&store, "d").unwrap());
        assert!(list(&store).unwrap().is_empty());
        assert!(validate_name("bad name").is_err());
        assert!(validate_name(".hidden").is_err());
    }

    #[test]
    fn rollups_are_recorded_per_version_and_never_outlive_it() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("apex.db")).unwrap();
        let found = Rollups {
            records: 3,
            spend_usd: 0.25,
        };
        let a = commit_parts(&store, &commit("d", false, 0, (0, 2))).unwrap();
        assert_eq!(rollups_of(&store, &a).unwrap(), None);
        record_rollups(&store, &a, found, "test").unwrap();
        assert_eq!(rollups_of(&store, &a).unwrap(), Some(found));
        // An append is another version: nothing known for it, and a late record of the
        // old version (a report that read it) is not taken for the new one.
        let b = commit_parts(&store, &commit("d", false, 2, (2, 3))).unwrap();
        assert_eq!(rollups_of(&store, &b).unwrap(), None);
        record_rollups(&store, &a, found, "test").unwrap();
        assert_eq!(rollups_of(&store, &b).unwrap(), None);
        record_rollups(&store, &b, found, "test").unwrap();
        assert_eq!(rollups_of(&store, &b).unwrap(), Some(found));
        // Deleted and made again with the same parts: the old fact went with the dataset.
        assert!(delete(&store, "d").unwrap());
        let again = commit_parts(&store, &commit("d", false, 0, (0, 3))).unwrap();
        assert_eq!(rollups_of(&store, &again).unwrap(), None);
        // Only our own Parquet datasets have versions.
        let mut attached = again.clone();
        attached.storage = STORAGE_EXTERNAL.to_string();
        record_rollups(&store, &attached, found, "test").unwrap();
        assert_eq!(rollups_of(&store, &again).unwrap(), None);
    }

    #[test]
    fn legacy_rows_read_back_and_go_with_the_replacing_commit() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("apex.db")).unwrap();
        insert_legacy(&store, "old", "synthetic", &[rec(1), rec(2), rec(3)]).unwrap();
        assert_eq!(legacy_datasets(&store).unwrap().len(), 1);
        let (n, spend) = legacy_totals(&store, "old").unwrap();
        assert_eq!(n, 3);
        assert!((spend - 0.003).abs() < 1e-12);
        let mut back = Vec::new();
        for_each_legacy_batch(&store, "old", 2, |b| {
            back.extend_from_slice(b);
            Ok(())
        })
        .unwrap();
        assert_eq!(back, vec![rec(1), rec(2), rec(3)]);
        let summary = json!({"kept": true});
        let mut c = commit("old", true, 0, (0, 1));
        c.summary = &summary;
        commit_parts(&store, &c).unwrap();
        assert!(legacy_datasets(&store).unwrap().is_empty());
        assert_eq!(legacy_totals(&store, "old").unwrap().0, 0);
        let info = get(&store, "old").unwrap().unwrap();
        assert_eq!(info.storage, STORAGE_PARQUET);
        assert_eq!(info.summary, summary);
    }
}
