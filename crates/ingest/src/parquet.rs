//! Parquet files of workload records: what `synth --format parquet` writes, and what a
//! warehouse export, DuckDB's `COPY … TO 'x.parquet'`, Spark or pandas write in the workload
//! schema, or in another vocabulary through the column map (`columns`), as a CSV header is
//! mapped. Only the columns the records need are read, a batch of rows at a time on one
//! thread; each batch is converted, checked and prepared on all cores, as CSV rows are, and
//! a rejection's `line` is the row's number in the file (from 1).

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fs::File;
use std::path::Path;

use arrow::array::{Array, ArrayRef, AsArray, Float64Array, Int64Array, RecordBatch, StringArray};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Float64Type, Int64Type, TimeUnit};
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use super::convert::{CsvLayout, Fields, collect, convert};
use super::fast::{SLOTS, slot};
use super::{Collector, FORMAT_NAMES, IngestError, ParseOptions, Parsed};

/// Rows read and handed to a parsing thread at once.
const ROWS: usize = 8_192;

/// Whether `head` (a file's first bytes) opens a Parquet file.
pub(crate) fn is_parquet(head: &[u8]) -> bool {
    head.starts_with(b"PAR1")
}

/// One input column as the conversion reads it.
enum Column {
    Text(StringArray),
    Number(Float64Array),
    /// A timestamp or date, in milliseconds since the epoch (UTC; a timestamp without a
    /// time zone is read as UTC).
    Millis(Int64Array),
}

impl Column {
    /// `array` as [`Column`] reads it: numbers (integers, floats, decimals) as `f64`,
    /// timestamps and dates as milliseconds, everything else as text.
    fn of(array: &ArrayRef) -> Result<Column, String> {
        let cast_to = |t: &DataType| cast(array, t).map_err(|e| e.to_string());
        Ok(match array.data_type() {
            DataType::Timestamp(_, tz) => {
                // The unit changes and the zone stays: the values are UTC instants.
                let ms = cast_to(&DataType::Timestamp(TimeUnit::Millisecond, tz.clone()))?;
                let raw = cast(&ms, &DataType::Int64).map_err(|e| e.to_string())?;
                Column::Millis(raw.as_primitive::<Int64Type>().clone())
            }
            DataType::Date32 | DataType::Date64 => {
                let ms = cast_to(&DataType::Timestamp(TimeUnit::Millisecond, None))?;
                let raw = cast(&ms, &DataType::Int64).map_err(|e| e.to_string())?;
                Column::Millis(raw.as_primitive::<Int64Type>().clone())
            }
            t if t.is_numeric() => Column::Number(
                cast_to(&DataType::Float64)?
                    .as_primitive::<Float64Type>()
                    .clone(),
            ),
            DataType::Utf8 => Column::Text(array.as_string::<i32>().clone()),
            _ => Column::Text(cast_to(&DataType::Utf8)?.as_string::<i32>().clone()),
        })
    }
}

/// The columns of one batch by slot ([`slot`]).
struct Columns {
    by_slot: Vec<Option<Column>>,
}

/// One row of a batch, by our field names.
struct ParquetFields<'a> {
    layout: &'a CsvLayout,
    columns: &'a Columns,
    row: usize,
}

impl ParquetFields<'_> {
    fn column(&self, name: &str) -> Option<&Column> {
        self.columns.by_slot[slot(name)?].as_ref()
    }
}

impl Fields for ParquetFields<'_> {
    fn text(&self, name: &str) -> Option<Cow<'_, str>> {
        let row = self.row;
        match self.column(name)? {
            Column::Text(a) => {
                let v = a.is_valid(row).then(|| a.value(row).trim())?;
                (!v.is_empty()).then_some(Cow::Borrowed(v))
            }
            Column::Number(a) => a
                .is_valid(row)
                .then(|| Cow::Owned(a.value(row).to_string())),
            Column::Millis(a) => a.is_valid(row).then(|| {
                Cow::Owned(
                    chrono::DateTime::from_timestamp_millis(a.value(row))
                        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
                        .unwrap_or_default(),
                )
            }),
        }
    }

    fn number(&self, name: &str) -> Result<Option<f64>, String> {
        let row = self.row;
        match self.column(name) {
            None => Ok(None),
            Some(Column::Number(a)) => Ok(a.is_valid(row).then(|| a.value(row))),
            Some(Column::Millis(a)) => Ok(a.is_valid(row).then(|| a.value(row) as f64)),
            Some(Column::Text(_)) => self.layout.number(name, self.text(name)),
        }
    }

    fn timestamp_ms(&self) -> Option<i64> {
        match self.column("timestamp")? {
            Column::Millis(a) => a.is_valid(self.row).then(|| a.value(self.row)),
            _ => None,
        }
    }
}

/// A Parquet file of workload records; see the module's notes.
pub(crate) fn parquet_file<E: Send, B: Send>(
    path: &Path,
    opts: &ParseOptions<'_>,
    parsed: &mut Parsed,
    prepare: &(dyn Fn(RecordBatch) -> Result<B, E> + Sync),
    write: &mut dyn FnMut(B) -> Result<(), E>,
) -> Result<(), IngestError<E>> {
    let file = File::open(path)
        .map_err(|e| IngestError::Io(format!("path: cannot open {}: {e}", path.display())))?;
    let builder = ParquetRecordBatchReaderBuilder::try_new(file).map_err(|e| {
        IngestError::Invalid(format!(
            "path: {} is not a readable Parquet file ({e}); if it is in another format, pass \
             format auto (told by its name and first bytes) or one of {FORMAT_NAMES}",
            path.display()
        ))
    })?;
    let schema = builder.schema().clone();
    let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
    let columns = opts.columns.clone();
    CsvLayout::check_columns(
        &format!("the Parquet file {}", path.display()),
        &names,
        &columns,
    )
    .map_err(IngestError::Invalid)?;
    let theirs = |ours: &str| -> String { columns.get(ours).cloned().unwrap_or(ours.to_string()) };
    // Only the columns some field reads, in the file's order (as the reader gives them).
    let wanted: Vec<String> = super::fast::fields().map(theirs).collect();
    let read: Vec<usize> = (0..names.len())
        .filter(|&i| wanted.iter().any(|w| w == names[i]))
        .collect();
    let header: BTreeMap<String, usize> = read
        .iter()
        .enumerate()
        .map(|(at, &i)| (names[i].to_string(), at))
        .collect();
    let mask = ProjectionMask::roots(builder.parquet_schema(), read.iter().copied());
    let reader = builder
        .with_projection(mask)
        .with_batch_size(ROWS)
        .build()
        .map_err(|e| IngestError::Invalid(format!("path: cannot read {}: {e}", path.display())))?;
    let produce = move |send: &mut dyn FnMut((u64, RecordBatch)) -> bool| {
        let mut first = 1u64;
        for batch in reader {
            let batch = batch.map_err(|e| {
                format!("path: read error in {} at row {first}: {e}", path.display())
            })?;
            let rows = batch.num_rows() as u64;
            if !send((first, batch)) {
                return Ok(());
            }
            first += rows;
        }
        Ok(())
    };
    let layout = &CsvLayout::new(&header, &columns);
    let work = |c: &mut Collector<'_, '_, E>, (first, batch): (u64, RecordBatch)| {
        let mut by_slot = Vec::with_capacity(SLOTS);
        for (s, at) in layout.column.iter().enumerate() {
            by_slot.push(match at {
                None => None,
                Some(i) => Some(Column::of(batch.column(*i)).map_err(|e| {
                    IngestError::Invalid(format!(
                        "path: column `{}` of {} cannot be read: {e}",
                        layout.theirs[s],
                        path.display()
                    ))
                })?),
            });
        }
        let columns = Columns { by_slot };
        for row in 0..batch.num_rows() {
            let line = first + row as u64;
            let fields = ParquetFields {
                layout,
                columns: &columns,
                row,
            };
            let opts = c.opts;
            collect(c, line, None, convert(&fields, opts, line, None))?;
        }
        Ok(())
    };
    super::fast::on_all_cores(opts, parsed, produce, &work, prepare, write)
}
