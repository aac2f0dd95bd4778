//! What a query reads: for each dataset, its committed part files as of one moment, each
//! checked to be a readable Parquet file in the stored schema. A part that is truncated, not
//! Parquet or of another schema is left out and named in [`Snapshot::warnings`], never
//! silently. Holding a snapshot keeps a replace from deleting the parts it reads.
//!
//! An attached dataset (storage `external`) is the Parquet files at its location as they are
//! now ([`crate::external`]): listed and checked at every snapshot, so a pipeline's new files
//! count as soon as they are there.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, LazyLock, Mutex};
use std::time::SystemTime;

use parquet::file::metadata::ParquetMetaDataReader;

use crate::external;
use crate::layout;
use crate::lock::{self, FileLock, Mode};
use crate::schema;
use crate::write::lock_paths;
use crate::{Result, root_of};
use apex_store::Store;
use apex_store::datasets::{self as catalog, DatasetInfo, STORAGE_EXTERNAL, STORAGE_PARQUET};

/// One readable part of a dataset.
#[derive(Debug, Clone, PartialEq)]
pub struct Part {
    pub day: String,
    pub number: u64,
    pub path: PathBuf,
    pub size: u64,
    pub rows: u64,
    /// The file in its dataset's [`DatasetParts::store`] (attached datasets only; `path`
    /// then names it for people). `day` is empty: it is computed from each timestamp.
    pub object: Option<object_store::path::Path>,
}

/// A dataset as a query sees it.
#[derive(Debug, Clone)]
pub struct DatasetParts {
    pub info: DatasetInfo,
    pub parts: Vec<Part>,
    /// Where an attached dataset's files are read from; `None` for our own parts (local).
    pub store: Option<Arc<dyn object_store::ObjectStore>>,
    /// An attached dataset's version: a hash of its listing (every file's path, size,
    /// modification time and entity tag), which changes when a file is added, removed or
    /// rewritten. `None` for our own datasets (their catalog entry is their version).
    pub listing: Option<u64>,
}

impl DatasetParts {
    pub fn rows(&self) -> u64 {
        self.parts.iter().map(|p| p.rows).sum()
    }
}

/// The datasets of one query, with what was left out and why.
#[derive(Debug)]
pub struct Snapshot {
    pub datasets: Vec<DatasetParts>,
    /// One line per part left out or dataset not readable as Parquet.
    pub warnings: Vec<String>,
    _readers: Vec<FileLock>,
}

impl Snapshot {
    /// Every Parquet dataset of the catalog (or only `only`, when given).
    pub fn take(store: &Store, only: Option<&[&str]>) -> Result<Snapshot> {
        let root = root_of(store);
        let mut datasets = Vec::new();
        let mut warnings = Vec::new();
        let mut readers = Vec::new();
        for info in catalog::list(store)? {
            if only.is_some_and(|names| !names.contains(&info.name.as_str())) {
                continue;
            }
            if info.storage == STORAGE_EXTERNAL {
                match external_parts(&info) {
                    Ok((ds, left_out)) => {
                        warnings.extend(
                            left_out
                                .into_iter()
                                .map(|w| format!("dataset {}: {w}", info.name)),
                        );
                        datasets.push(ds);
                    }
                    Err(e) => warnings.push(format!(
                        "dataset {} (attached from {}) was not read: {e}",
                        info.name,
                        info.location().unwrap_or("?")
                    )),
                }
                continue;
            }
            if info.storage != STORAGE_PARQUET {
                warnings.push(format!(
                    "dataset {}: its records are still in the old SQLite layout and were not read; run `netra-apex datasets migrate`",
                    info.name
                ));
                continue;
            }
            let (_, read_lock) = lock_paths(&root, &info.name);
            if let Ok(Some(l)) = lock::lock(&read_lock, Mode::Shared, true) {
                readers.push(l);
            }
            // The catalog may have moved on between listing and locking: read it again.
            let Some(info) = catalog::get(store, &info.name)? else {
                continue;
            };
            let dir = layout::dataset_dir(&root, &info.name);
            let found = layout::list_parts(&dir)
                .map_err(|e| crate::DatasetError::Io(format!("{}: {e}", dir.display())))?;
            let mut parts = Vec::new();
            for f in found
                .into_iter()
                .filter(|p| p.number >= info.first_part && p.number < info.next_part)
            {
                match check_part(&f.path, f.size) {
                    Ok(rows) => parts.push(Part {
                        day: f.day,
                        number: f.number,
                        path: f.path,
                        size: f.size,
                        rows,
                        object: None,
                    }),
                    Err(why) => warnings.push(format!(
                        "dataset {}: part {} was skipped: {why}",
                        info.name,
                        f.path.display()
                    )),
                }
            }
            let ds = DatasetParts {
                info,
                parts,
                store: None,
                listing: None,
            };
            let rows = ds.rows();
            if rows != ds.info.record_count {
                warnings.push(format!(
                    "dataset {}: the catalog records {} records but the readable parts hold {rows}; figures cover the readable parts only",
                    ds.info.name, ds.info.record_count
                ));
            }
            datasets.push(ds);
        }
        Ok(Snapshot {
            datasets,
            warnings,
            _readers: readers,
        })
    }

    /// A snapshot of datasets described by the caller (an attach checking its figures
    /// before it registers them).
    pub fn of(datasets: Vec<DatasetParts>) -> Snapshot {
        Snapshot {
            datasets,
            warnings: Vec::new(),
            _readers: Vec::new(),
        }
    }

    pub fn dataset(&self, name: &str) -> Option<&DatasetParts> {
        self.datasets.iter().find(|d| d.info.name == name)
    }
}

/// An attached dataset's files as they are now; its record count is theirs.
fn external_parts(info: &DatasetInfo) -> Result<(DatasetParts, Vec<String>)> {
    let loc = external::open(info.location().unwrap_or_default())?;
    let (parts, left_out, listing) = crate::engine::block_on(external::parts(&loc))??;
    let mut info = info.clone();
    info.record_count = parts.iter().map(|p| p.rows).sum();
    info.bytes = parts.iter().map(|p| p.size).sum();
    Ok((
        DatasetParts {
            info,
            parts,
            store: Some(loc.store),
            listing: Some(listing),
        },
        left_out,
    ))
}

type Checked = (u64, i128, std::result::Result<u64, String>);

/// Footers already checked (our parts and attached files): a file's key -> (size, mtime in
/// ns since the epoch, rows or why not readable). A changed size or mtime checks it again.
static CHECKED: LazyLock<Mutex<HashMap<String, Checked>>> =
    LazyLock::new(|| Mutex::new(HashMap::new()));

/// What was found when the file under `key` last had this size and mtime.
pub(crate) fn checked_before(
    key: &str,
    size: u64,
    mtime_ns: i128,
) -> Option<std::result::Result<u64, String>> {
    let cache = CHECKED.lock().ok()?;
    let (s, m, r) = cache.get(key)?;
    (*s == size && *m == mtime_ns).then(|| r.clone())
}

/// Remember what checking the file under `key` found (the cache is bounded: cleared past
/// 100,000 files).
pub(crate) fn remember(
    key: String,
    size: u64,
    mtime_ns: i128,
    r: &std::result::Result<u64, String>,
) {
    if let Ok(mut cache) = CHECKED.lock() {
        if cache.len() > 100_000 {
            cache.clear();
        }
        cache.insert(key, (size, mtime_ns, r.clone()));
    }
}

/// The row count of a part, or why it cannot be read: a missing or damaged footer, or
/// columns that are not the stored schema's.
pub fn check_part(path: &std::path::Path, size: u64) -> std::result::Result<u64, String> {
    let mtime = std::fs::metadata(path)
        .and_then(|m| m.modified())
        .map_err(|e| e.to_string())?;
    let mtime_ns = mtime
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as i128);
    let key = path.display().to_string();
    if let Some(r) = checked_before(&key, size, mtime_ns) {
        return r;
    }
    let result = read_footer(path);
    remember(key, size, mtime_ns, &result);
    result
}

fn read_footer(path: &std::path::Path) -> std::result::Result<u64, String> {
    let file = std::fs::File::open(path).map_err(|e| e.to_string())?;
    let meta = ParquetMetaDataReader::new()
        .parse_and_finish(&file)
        .map_err(|e| format!("not a readable Parquet file ({e})"))?;
    let arrow = parquet::arrow::parquet_to_arrow_schema(
        meta.file_metadata().schema_descr(),
        meta.file_metadata().key_value_metadata(),
    )
    .map_err(|e| format!("its schema cannot be read ({e})"))?;
    let want = schema::arrow_schema();
    for field in want.fields() {
        match arrow.field_with_name(field.name()) {
            Ok(f) if f.data_type() == field.data_type() => {}
            Ok(f) => {
                return Err(format!(
                    "column `{}` is {} where {} is stored",
                    field.name(),
                    f.data_type(),
                    field.data_type()
                ));
            }
            Err(_) => return Err(format!("it has no column `{}`", field.name())),
        }
    }
    Ok(meta.file_metadata().num_rows().max(0) as u64)
}
