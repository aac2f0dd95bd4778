//! The stored form of a workload record: its Arrow schema (the Parquet columns of every part
//! file), the writer properties, and the conversions between [`WorkloadRecord`]s and Arrow
//! batches. Timestamps are UTC milliseconds; the day of a record is its UTC calendar day.
//!
//! It does not decide where parts go (that is `layout`) or when they become visible (`write`).

use std::sync::Arc;

use arrow::array::{ArrayRef, BooleanArray, Int64Array, RecordBatch, new_null_array};
use arrow::datatypes::DataType;
use parquet::basic::{Compression, Encoding, ZstdLevel};
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::schema::types::ColumnPath;

use apex_core::workload::WorkloadRecord;

pub use apex_core::columns::{
    ID_COLUMNS, RecordColumns, arrow_schema, arrow_schema_with_views, batch_to_records,
    record_schema,
};
pub use apex_core::time::{day_name, days_from_civil, format_timestamp_ms, parse_timestamp_ms};

/// Rows per Parquet row group: small enough that the group being written (buffered until it
/// is complete) stays a few MB, large enough for fast scans.
pub const ROW_GROUP_ROWS: usize = 65_536;

/// The accounting columns of `rows` single clean calls: weight 1, not aggregated, no flags
/// (synthetic records, and records of the SQLite layout, which had no accounting).
pub fn clean_accounting(rows: usize) -> [ArrayRef; 3] {
    [
        Arc::new(Int64Array::from_value(1, rows)),
        Arc::new(BooleanArray::from(vec![false; rows])),
        new_null_array(&DataType::Utf8, rows),
    ]
}

/// How every Parquet file is written (dataset parts and synth's files): 64K-row groups,
/// Snappy, with these exceptions, each measured on 1M ingested records
/// (`tools/bench/parquet-writer.sh`, `examples/writer_settings.rs`; BENCHMARKS.md, "Parquet writer
/// settings"):
///
/// - **Random hex ids** (event, trace, span and parent span ids) are written plain (no
///   dictionary: they hardly repeat, so one would be built only to be thrown away at its size
///   limit) and compressed with **Zstandard level 1**: its entropy coding stores a hex digit
///   in about 4 bits where Snappy finds nothing to match, so they take about half the space,
///   in less time. `prompt_hash`, which the report reads, keeps Snappy's faster decoding.
/// - **Statistics only for `timestamp`**, at chunk level: the one column a query prunes row
///   groups by (a time range; the day partitions do the rest). Min/max of the other columns
///   cost a comparison per value and span every group's whole range anyway. No per-page
///   column or offset indexes.
/// - **`timestamp` delta-encoded** (`DELTA_BINARY_PACKED`, no dictionary): records come
///   nearly in time order, so a value takes a few bits instead of a dictionary entry and an
///   index. Latencies and costs, nearly all distinct, have no dictionary either.
///
/// Together: the writer's time -21 %, the files -35 %. Every reader we test (DataFusion,
/// DuckDB, pyarrow) and Spark and ClickHouse read all of these encodings and codecs.
///
/// The writer keeps every row group's metadata for the footer, so what it keeps per group is
/// what grows with a file (bounded by rolling over to new part files). 64K-row groups halve
/// the footer of 32K ones and keep the group being written (buffered until complete) small:
/// synth's peak RSS at 10M records 58 MB, against 73 MB with 128K groups and 96 MB with 256K
/// (tools/bench/synth.sh).
/// The random hex ids written in Zstandard ([`writer_properties`]): the [`ID_COLUMNS`] but
/// `prompt_hash`, which the report reads.
pub const ZSTD_COLUMNS: &[&str] = &["event_id", "trace_id", "span_id", "parent_span_id"];

pub fn writer_properties() -> WriterProperties {
    let zstd = Compression::ZSTD(ZstdLevel::default());
    let mut props = WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .set_max_row_group_size(ROW_GROUP_ROWS)
        .set_statistics_enabled(EnabledStatistics::None)
        .set_column_statistics_enabled(ColumnPath::from("timestamp"), EnabledStatistics::Chunk)
        .set_column_dictionary_enabled(ColumnPath::from("timestamp"), false)
        .set_column_encoding(ColumnPath::from("timestamp"), Encoding::DELTA_BINARY_PACKED)
        .set_offset_index_disabled(true)
        .set_created_by(format!("netra-apex {}", env!("CARGO_PKG_VERSION")));
    for col in ["latency_ms", "ttft_ms", "cost_usd"] {
        props = props.set_column_dictionary_enabled(ColumnPath::from(col), false);
    }
    for col in ID_COLUMNS {
        props = props.set_column_dictionary_enabled(ColumnPath::from(*col), false);
    }
    for col in ZSTD_COLUMNS {
        props = props.set_column_compression(ColumnPath::from(*col), zstd);
    }
    props.build()
}

/// Why records could not be turned into a batch.
#[derive(Debug, thiserror::Error)]
#[error("record {index}: {message}")]
pub struct RecordError {
    pub index: usize,
    pub message: String,
}

/// Records as one Arrow batch in [`arrow_schema`]. A timestamp that is not RFC 3339 is an
/// error naming the record (ingest normalizes timestamps before this).
pub fn records_to_batch(records: &[WorkloadRecord]) -> Result<RecordBatch, RecordError> {
    apex_core::columns::records_to_batch(records)
        .map_err(|(index, message)| RecordError { index, message })
}
