//! Writing a dataset: records go into part files under a private staging directory, one open
//! part per day; [`DatasetWrite::commit`] closes and fsyncs them, renames them into the
//! dataset's day directories, fsyncs those, and only then registers them in the catalog in
//! one SQLite transaction. Until that commit nothing of the write is visible, so a cancelled,
//! failed or killed write leaves the dataset as it was, and it can simply be run again.
//!
//! One writer per dataset at a time: a second is refused with a clear error (or waits, for
//! appends that asked to). It does not parse input (ingest and synth hand it Arrow batches or
//! records) and does not read datasets (that is `snapshot` and `engine`).

use std::fs::File;
use std::path::{Path, PathBuf};

use arrow::array::{AsArray, RecordBatch, UInt32Array};
use arrow::compute::take_record_batch;
use arrow::datatypes::TimestampMillisecondType;
use parquet::arrow::ArrowWriter;
use parquet::file::properties::WriterProperties;
use serde_json::Value;

use crate::layout::{self, PartFile};
use crate::lock::{self, FileLock, Mode};
use crate::schema::{self, day_name, format_timestamp_ms};
use crate::{DatasetError, Result, root_of};
use apex_core::workload::WorkloadRecord;
use apex_store::Store;
use apex_store::datasets::{self as catalog, DatasetInfo, PartsCommit};

/// Rows per part file before it is closed and the next one started: bounds the metadata the
/// Parquet writer keeps for its footer (~20 KB per row group) and the size of one file.
pub const PART_ROWS: u64 = 64 * schema::ROW_GROUP_ROWS as u64;

/// Days with an open part at once; past it the least recently used part is closed (a later
/// record of that day starts a new part). Each open part buffers one row group.
pub const MAX_OPEN_PARTS: usize = 8;

/// Replace the dataset's records, or add to them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteMode {
    Replace,
    Append,
}

/// What to do when another writer holds the dataset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WhenBusy {
    Refuse,
    Wait,
}

struct OpenPart {
    day: i64,
    number: u64,
    path: PathBuf,
    writer: ArrowWriter<File>,
    rows: u64,
    used: u64,
}

#[derive(Debug)]
struct DonePart {
    day: i64,
    number: u64,
    staged: PathBuf,
    bytes: u64,
}

/// A write in progress. Dropping it without [`DatasetWrite::commit`] discards it.
pub struct DatasetWrite<'s> {
    store: &'s Store,
    name: String,
    mode: WriteMode,
    root: PathBuf,
    dir: PathBuf,
    staging: PathBuf,
    expected_next: u64,
    first_number: u64,
    next_number: u64,
    open: Vec<OpenPart>,
    done: Vec<DonePart>,
    props: WriterProperties,
    records: u64,
    spend: f64,
    min_ts: Option<i64>,
    max_ts: Option<i64>,
    tick: u64,
    _lock: FileLock,
}

impl std::fmt::Debug for DatasetWrite<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DatasetWrite")
            .field("name", &self.name)
            .field("records", &self.records)
            .finish()
    }
}

/// A write error naming the file and, when the OS said so, that the disk is full (ENOSPC)
/// or a file size limit was reached (EFBIG).
fn io(path: &Path, e: impl std::fmt::Display) -> DatasetError {
    let message = e.to_string();
    let full = ["os error 28", "os error 27"]
        .iter()
        .any(|code| message.contains(code));
    if full {
        DatasetError::Io(format!(
            "{}: the disk is full or a file size limit was reached ({message}); free space and retry; nothing of this write was registered",
            path.display()
        ))
    } else {
        DatasetError::Io(format!("{}: {message}", path.display()))
    }
}

/// The lock files of dataset `name`: writers hold `.locks/<name>.write`; queries hold
/// `.locks/<name>.read` shared, and a replaced dataset's old parts are deleted only while
/// it can be taken exclusively (no query is reading them).
pub(crate) fn lock_paths(root: &Path, name: &str) -> (PathBuf, PathBuf) {
    let locks = root.join(".locks");
    (
        locks.join(format!("{name}.write")),
        locks.join(format!("{name}.read")),
    )
}

impl<'s> DatasetWrite<'s> {
    /// Start writing dataset `name`.
    pub fn begin(
        store: &'s Store,
        name: &str,
        mode: WriteMode,
        busy: WhenBusy,
    ) -> Result<DatasetWrite<'s>> {
        catalog::validate_name(name)?;
        let root = root_of(store);
        std::fs::create_dir_all(&root).map_err(|e| io(&root, e))?;
        let (write_lock, _) = lock_paths(&root, name);
        let lock = lock::lock(&write_lock, Mode::Exclusive, busy == WhenBusy::Wait)
            .map_err(|e| io(&write_lock, e))?
            .ok_or_else(|| DatasetError::Busy(name.to_string()))?;
        layout::remove_abandoned_staging(&root);
        let info = catalog::get(store, name)?;
        if let Some(i) = info.as_ref().filter(|i| i.location().is_some()) {
            return Err(catalog::external_is_read_only(i).into());
        }
        let dir = layout::dataset_dir(&root, name);
        let (first, next) = match &info {
            Some(i) if i.storage == catalog::STORAGE_PARQUET => (i.first_part, i.next_part),
            _ => (0, 0),
        };
        let on_disk = layout::list_parts(&dir).map_err(|e| io(&dir, e))?;
        // Parts past the committed range are a crashed commit's: we hold the write lock, so
        // no live writer owns them. They must go, or an append would make them visible.
        for p in on_disk.iter().filter(|p| p.number >= next) {
            std::fs::remove_file(&p.path).map_err(|e| {
                io(
                    &p.path,
                    format!("cannot remove a part an interrupted write left behind: {e}"),
                )
            })?;
        }
        remove_replaced(&root, name, &dir, first, &on_disk);
        let start = next.max(
            on_disk
                .iter()
                .filter(|p| p.number < next)
                .map(|p| p.number + 1)
                .max()
                .unwrap_or(0),
        );
        let staging = layout::staging_dir(&root, name, layout::unique());
        std::fs::create_dir_all(&staging).map_err(|e| io(&staging, e))?;
        Ok(DatasetWrite {
            store,
            name: name.to_string(),
            mode,
            root,
            dir,
            staging,
            expected_next: next,
            first_number: start,
            next_number: start,
            open: Vec::new(),
            done: Vec::new(),
            props: schema::writer_properties(),
            records: 0,
            spend: 0.0,
            min_ts: None,
            max_ts: None,
            tick: 0,
            _lock: lock,
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Records written so far.
    pub fn records(&self) -> u64 {
        self.records
    }

    /// Summed `cost_usd` of the records written so far.
    pub fn spend_usd(&self) -> f64 {
        self.spend
    }

    /// Append records (converted to one Arrow batch).
    pub fn append_records(&mut self, records: &[WorkloadRecord]) -> Result<()> {
        if records.is_empty() {
            return Ok(());
        }
        let batch =
            schema::records_to_batch(records).map_err(|e| DatasetError::Invalid(e.to_string()))?;
        self.append(&batch)
    }

    /// Append a batch in the stored schema ([`schema::arrow_schema`]).
    pub fn append(&mut self, batch: &RecordBatch) -> Result<()> {
        if batch.num_rows() == 0 {
            return Ok(());
        }
        if batch.schema().fields() != schema::arrow_schema().fields() {
            return Err(DatasetError::Invalid(format!(
                "internal: a batch for dataset `{}` is not in the stored schema",
                self.name
            )));
        }
        let ts = batch
            .column(4)
            .as_primitive_opt::<TimestampMillisecondType>()
            .ok_or_else(|| DatasetError::Invalid("internal: timestamp column type".into()))?;
        let cost = batch
            .column(22)
            .as_primitive_opt::<arrow::datatypes::Float64Type>()
            .ok_or_else(|| DatasetError::Invalid("internal: cost_usd column type".into()))?;
        self.spend += cost.values().iter().sum::<f64>();
        let values = ts.values();
        if let (Some(lo), Some(hi)) = (values.iter().min(), values.iter().max()) {
            self.min_ts = Some(self.min_ts.map_or(*lo, |m| m.min(*lo)));
            self.max_ts = Some(self.max_ts.map_or(*hi, |m| m.max(*hi)));
        }
        // Runs of rows of one day: one run for time-ordered input.
        let day_of = |ms: i64| ms.div_euclid(86_400_000);
        let mut runs: Vec<(i64, usize, usize)> = Vec::new();
        for (i, &ms) in values.iter().enumerate() {
            let d = day_of(ms);
            match runs.last_mut() {
                Some((day, _, len)) if *day == d => *len += 1,
                _ => runs.push((d, i, 1)),
            }
        }
        if runs.len() > 64 {
            // Unordered input: gather each day's rows instead of writing many slivers.
            let mut order: Vec<u32> = (0..values.len() as u32).collect();
            order.sort_by_key(|&i| day_of(values[i as usize]));
            let sorted = take_record_batch(batch, &UInt32Array::from(order.clone()))
                .map_err(|e| DatasetError::Invalid(e.to_string()))?;
            let mut start = 0;
            while start < order.len() {
                let d = day_of(values[order[start] as usize]);
                let mut end = start;
                while end < order.len() && day_of(values[order[end] as usize]) == d {
                    end += 1;
                }
                self.write_day(d, &sorted.slice(start, end - start))?;
                start = end;
            }
        } else {
            for (d, offset, len) in runs {
                self.write_day(d, &batch.slice(offset, len))?;
            }
        }
        self.records += batch.num_rows() as u64;
        Ok(())
    }

    fn write_day(&mut self, day: i64, batch: &RecordBatch) -> Result<()> {
        let mut offset = 0;
        while offset < batch.num_rows() {
            let i = self.part_for(day)?;
            let part = &mut self.open[i];
            let room = (PART_ROWS - part.rows).min((batch.num_rows() - offset) as u64) as usize;
            part.writer
                .write(&batch.slice(offset, room))
                .map_err(|e| io(&part.path, e))?;
            part.rows += room as u64;
            offset += room;
            if part.rows >= PART_ROWS {
                let full = self.open.swap_remove(i);
                self.close(full)?;
            }
        }
        Ok(())
    }

    /// The index of the open part of `day`, opening one (and closing the least recently
    /// used part past [`MAX_OPEN_PARTS`]).
    fn part_for(&mut self, day: i64) -> Result<usize> {
        self.tick += 1;
        if let Some(i) = self.open.iter().position(|p| p.day == day) {
            self.open[i].used = self.tick;
            return Ok(i);
        }
        if self.open.len() >= MAX_OPEN_PARTS
            && let Some(lru) = (0..self.open.len()).min_by_key(|&i| self.open[i].used)
        {
            let part = self.open.swap_remove(lru);
            self.close(part)?;
        }
        let number = self.next_number;
        self.next_number += 1;
        let day_dir = self.staging.join(layout::day_dir_name(&day_name(day)));
        std::fs::create_dir_all(&day_dir).map_err(|e| io(&day_dir, e))?;
        let path = day_dir.join(layout::part_file_name(number));
        let file = File::create(&path).map_err(|e| io(&path, e))?;
        let writer = ArrowWriter::try_new(file, schema::arrow_schema(), Some(self.props.clone()))
            .map_err(|e| io(&path, e))?;
        self.open.push(OpenPart {
            day,
            number,
            path,
            writer,
            rows: 0,
            used: self.tick,
        });
        Ok(self.open.len() - 1)
    }

    /// Finish a part's footer and fsync it.
    fn close(&mut self, part: OpenPart) -> Result<()> {
        let file = part.writer.into_inner().map_err(|e| io(&part.path, e))?;
        file.sync_all().map_err(|e| io(&part.path, e))?;
        let bytes = file.metadata().map(|m| m.len()).unwrap_or(0);
        self.done.push(DonePart {
            day: part.day,
            number: part.number,
            staged: part.path,
            bytes,
        });
        Ok(())
    }

    /// Close every open part (footer written and fsynced); later records start new parts.
    pub fn finish_parts(&mut self) -> Result<()> {
        for part in std::mem::take(&mut self.open) {
            self.close(part)?;
        }
        Ok(())
    }

    /// The finished parts of this write, still in its staging directory.
    pub fn staged_paths(&self) -> Vec<PathBuf> {
        self.done.iter().map(|p| p.staged.clone()).collect()
    }

    /// Make the write visible: move its parts into place and register them. `source`,
    /// `params` and `summary` describe the dataset (an append keeps the dataset's source
    /// and params; a null summary keeps its summary).
    pub fn commit(mut self, source: &str, params: &Value, summary: &Value) -> Result<DatasetInfo> {
        self.commit_as(source, params, summary, None)
    }

    /// [`DatasetWrite::commit`] keeping a creation time (a conversion from the old layout).
    pub fn commit_as(
        &mut self,
        source: &str,
        params: &Value,
        summary: &Value,
        created_at: Option<&str>,
    ) -> Result<DatasetInfo> {
        self.finish_parts()?;
        self.done.sort_by_key(|p| p.number);
        let mut moved: Vec<PathBuf> = Vec::new();
        let result = self.move_into_place(&mut moved).and_then(|bytes| {
            let first = self.min_ts.map(format_timestamp_ms);
            let last = self.max_ts.map(format_timestamp_ms);
            Ok(catalog::commit_parts(
                self.store,
                &PartsCommit {
                    name: &self.name,
                    source,
                    params,
                    summary,
                    replace: self.mode == WriteMode::Replace,
                    expected_next_part: self.expected_next,
                    first_part: self.first_number,
                    next_part: self.next_number,
                    records: self.records,
                    spend_usd: self.spend,
                    bytes,
                    first: first.as_deref(),
                    last: last.as_deref(),
                    created_at,
                },
            )?)
        });
        match result {
            Ok(info) => {
                if self.mode == WriteMode::Replace {
                    let on_disk = layout::list_parts(&self.dir).unwrap_or_default();
                    remove_replaced(&self.root, &self.name, &self.dir, info.first_part, &on_disk);
                }
                Ok(info)
            }
            Err(e) => {
                // Moved parts are past the committed range: invisible, but not left behind.
                for p in moved {
                    let _ = std::fs::remove_file(p);
                }
                Err(e)
            }
        }
    }

    /// Rename every finished part into the dataset's day directories and fsync them.
    /// Returns the parts' bytes.
    fn move_into_place(&self, moved: &mut Vec<PathBuf>) -> Result<u64> {
        let root_existed = self.dir.exists();
        std::fs::create_dir_all(&self.dir).map_err(|e| io(&self.dir, e))?;
        let mut dirs: Vec<PathBuf> = Vec::new();
        let mut bytes = 0;
        for part in &self.done {
            let day_dir = self.dir.join(layout::day_dir_name(&day_name(part.day)));
            if !dirs.contains(&day_dir) {
                std::fs::create_dir_all(&day_dir).map_err(|e| io(&day_dir, e))?;
                dirs.push(day_dir.clone());
            }
            let to = day_dir.join(layout::part_file_name(part.number));
            std::fs::rename(&part.staged, &to).map_err(|e| io(&to, e))?;
            moved.push(to);
            bytes += part.bytes;
        }
        for d in &dirs {
            layout::sync_dir(d).map_err(|e| io(d, e))?;
        }
        layout::sync_dir(&self.dir).map_err(|e| io(&self.dir, e))?;
        if !root_existed {
            layout::sync_dir(&self.root).map_err(|e| io(&self.root, e))?;
        }
        Ok(bytes)
    }
}

impl Drop for DatasetWrite<'_> {
    fn drop(&mut self) {
        // Open writers are dropped unfinished; the staging directory goes with its parts.
        self.open.clear();
        let _ = std::fs::remove_dir_all(&self.staging);
    }
}

/// Delete the parts a replace made invisible (numbered before `first`) and day directories
/// left empty, when no query is reading the dataset; otherwise a later write does it.
fn remove_replaced(root: &Path, name: &str, dir: &Path, first: u64, on_disk: &[PartFile]) {
    let old: Vec<&PartFile> = on_disk.iter().filter(|p| p.number < first).collect();
    if old.is_empty() {
        return;
    }
    let (_, read_lock) = lock_paths(root, name);
    let Ok(Some(_readers_out)) = lock::lock(&read_lock, Mode::Exclusive, false) else {
        return;
    };
    for p in old {
        let _ = std::fs::remove_file(&p.path);
        if let Some(day_dir) = p.path.parent() {
            // Fails while the directory still holds parts; that is intended.
            let _ = std::fs::remove_dir(day_dir);
        }
    }
    let _ = layout::sync_dir(dir);
}

/// Remove a dataset: unregister it, then delete its parts (when no query reads them). An
/// attached dataset is only unregistered: its files are the user's. Returns what was
/// removed (`location()` set for a detached one), or `None` when there was no such dataset.
pub fn delete(store: &Store, name: &str) -> Result<Option<DatasetInfo>> {
    catalog::validate_name(name)?;
    let root = root_of(store);
    let (write_lock, read_lock) = lock_paths(&root, name);
    let _writer = lock::lock(&write_lock, Mode::Exclusive, false)
        .map_err(|e| io(&write_lock, e))?
        .ok_or_else(|| DatasetError::Busy(name.to_string()))?;
    let Some(info) = catalog::get(store, name)? else {
        return Ok(None);
    };
    catalog::delete(store, name)?;
    if info.location().is_none()
        && let Ok(Some(_readers_out)) = lock::lock(&read_lock, Mode::Exclusive, false)
    {
        let _ = std::fs::remove_dir_all(layout::dataset_dir(&root, name));
    }
    Ok(Some(info))
}

/// Write whole batches as a new dataset `name` (tests and small tools).
pub fn write_batches(
    store: &Store,
    name: &str,
    source: &str,
    batches: &[RecordBatch],
) -> Result<DatasetInfo> {
    let mut w = DatasetWrite::begin(store, name, WriteMode::Replace, WhenBusy::Refuse)?;
    for b in batches {
        w.append(b)?;
    }
    w.commit(source, &Value::Null, &Value::Null)
}
