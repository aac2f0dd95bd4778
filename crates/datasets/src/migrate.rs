//! Converting datasets of the old layout (rows of the SQLite `workload_records` table) to
//! Parquet parts. A conversion writes the parts, checks that they hold every row (their
//! footers' row counts) and the same spend before it registers them, and drops the old rows
//! in the same transaction that registers the parts: at no point is a record in neither
//! place, and a conversion that is interrupted simply runs again.

use serde::Serialize;

use crate::snapshot::check_part;
use crate::write::{DatasetWrite, WhenBusy, WriteMode};
use crate::{DatasetError, Result};
use apex_store::Store;
use apex_store::datasets::{self as catalog, DatasetInfo, STORAGE_SQLITE};

/// Rows read from SQLite per batch.
const BATCH: usize = 65_536;

/// One converted dataset.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Converted {
    pub name: String,
    pub records: u64,
    pub spend_usd: f64,
    pub parts: u64,
    pub bytes: u64,
    pub elapsed_ms: u64,
}

/// Convert every dataset still in the old layout. `progress(name, done, total)` is called
/// after each batch.
pub fn migrate_all(
    store: &Store,
    progress: &mut dyn FnMut(&str, u64, u64),
) -> Result<Vec<Converted>> {
    let mut out = Vec::new();
    for info in catalog::legacy_datasets(store)? {
        if let Some(c) = migrate_one(store, &info.name, progress)? {
            out.push(c);
        }
    }
    Ok(out)
}

/// Convert dataset `name` if it is still in the old layout (`None` when it is not, e.g.
/// another process converted it meanwhile). Waits for another writer of it to finish.
pub fn migrate_one(
    store: &Store,
    name: &str,
    progress: &mut dyn FnMut(&str, u64, u64),
) -> Result<Option<Converted>> {
    let started = std::time::Instant::now();
    let mut write = DatasetWrite::begin(store, name, WriteMode::Replace, WhenBusy::Wait)?;
    // Read the catalog under the write lock: another process may have converted it.
    let Some(info) = catalog::get(store, name)?.filter(|i| i.storage == STORAGE_SQLITE) else {
        return Ok(None);
    };
    let (rows, spend) = catalog::legacy_totals(store, name)?;
    let mut done = 0u64;
    progress(name, 0, rows);
    catalog::for_each_legacy_batch(store, name, BATCH, |batch| {
        write
            .append_records(batch)
            .map_err(|e| apex_store::StoreError::Invalid(e.to_string()))?;
        done += batch.len() as u64;
        progress(name, done, rows);
        Ok(())
    })?;
    check(&info, rows, spend, write.records(), write.spend_usd())?;
    let DatasetInfo {
        source,
        params,
        summary,
        created_at,
        ..
    } = info;
    let staged = staged_rows(&mut write)?;
    if staged != rows {
        return Err(DatasetError::Invalid(format!(
            "converting `{name}`: the written parts hold {staged} rows, the old table {rows}; nothing was changed"
        )));
    }
    let committed = write.commit_as(&source, &params, &summary, Some(&created_at))?;
    let parts = committed.next_part - committed.first_part;
    Ok(Some(Converted {
        name: name.to_string(),
        records: committed.record_count,
        spend_usd: committed.spend_usd,
        parts,
        bytes: committed.bytes,
        elapsed_ms: started.elapsed().as_millis() as u64,
    }))
}

fn check(
    info: &DatasetInfo,
    rows: u64,
    spend: f64,
    written: u64,
    written_spend: f64,
) -> Result<()> {
    let tolerance = 1e-9 * spend.abs().max(1.0);
    if written != rows || (written_spend - spend).abs() > tolerance {
        return Err(DatasetError::Invalid(format!(
            "converting `{}`: wrote {written} records costing ${written_spend:.6} but the old table holds {rows} costing ${spend:.6}; nothing was changed",
            info.name
        )));
    }
    Ok(())
}

/// Rows in the finished staged parts of a write, read back from their footers.
fn staged_rows(write: &mut DatasetWrite<'_>) -> Result<u64> {
    write.finish_parts()?;
    let mut total = 0;
    for path in write.staged_paths() {
        let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        total += check_part(&path, size)
            .map_err(|why| DatasetError::Invalid(format!("{}: {why}", path.display())))?;
    }
    Ok(total)
}

/// Whether any dataset still waits for conversion.
pub fn pending(store: &Store) -> Result<Vec<String>> {
    Ok(catalog::legacy_datasets(store)?
        .into_iter()
        .map(|d| d.name)
        .collect())
}
