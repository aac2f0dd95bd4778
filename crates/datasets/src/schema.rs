//! The stored form of a workload record: its Arrow schema (the Parquet columns of every part
//! file), the writer properties, and the conversions between [`WorkloadRecord`]s and Arrow
//! batches. Timestamps are UTC milliseconds; the day of a record is its UTC calendar day.
//!
//! It does not decide where parts go (that is `layout`) or when they become visible (`write`).

use std::sync::{Arc, LazyLock};

use arrow::array::{
    Array, ArrayRef, BooleanArray, Float64Array, Int64Array, RecordBatch, StringArray,
    StringBuilder, TimestampMillisecondArray, new_null_array,
};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use parquet::basic::Compression;
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::schema::types::ColumnPath;

use apex_core::workload::WorkloadRecord;

pub use apex_core::time::{day_name, days_from_civil, parse_timestamp_ms};

/// Rows per Parquet row group: small enough that the group being written (buffered until it
/// is complete) stays a few MB, large enough for fast scans.
pub const ROW_GROUP_ROWS: usize = 65_536;

/// Columns of random hex ids: no min/max statistics and no dictionary (they hardly repeat).
pub const ID_COLUMNS: &[&str] = &[
    "event_id",
    "trace_id",
    "span_id",
    "parent_span_id",
    "prompt_hash",
];

static RECORD_SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
    let s = |n: &str, null: bool| Field::new(n, DataType::Utf8, null);
    let i = |n: &str| Field::new(n, DataType::Int64, false);
    Arc::new(Schema::new(vec![
        s("event_id", false),
        s("trace_id", false),
        s("span_id", false),
        s("parent_span_id", true),
        Field::new(
            "timestamp",
            DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())),
            false,
        ),
        s("tenant", false),
        s("feature", false),
        s("workload_type", false),
        s("operation", false),
        s("provider", false),
        s("model", false),
        i("input_tokens"),
        i("output_tokens"),
        i("cache_read_tokens"),
        i("cache_write_tokens"),
        i("reasoning_tokens"),
        Field::new("latency_ms", DataType::Float64, false),
        Field::new("ttft_ms", DataType::Float64, true),
        s("status", false),
        s("error_type", true),
        s("finish_reason", true),
        s("prompt_hash", true),
        Field::new("cost_usd", DataType::Float64, false),
    ]))
});

static SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
    let mut fields: Vec<Field> = RECORD_SCHEMA
        .fields()
        .iter()
        .map(|f| f.as_ref().clone())
        .collect();
    fields.extend([
        Field::new("weight", DataType::Int64, false),
        Field::new("aggregated", DataType::Boolean, false),
        Field::new("quality_flags", DataType::Utf8, true),
    ]);
    Arc::new(Schema::new(fields))
});

/// The Arrow schema of every part file: [`apex_core::workload::COLUMNS`] then
/// [`apex_core::workload::ACCOUNTING_COLUMNS`] (`weight`, `aggregated`, `quality_flags`).
pub fn arrow_schema() -> SchemaRef {
    SCHEMA.clone()
}

/// [`arrow_schema`] with the text columns that repeat (every one but [`ID_COLUMNS`]) as
/// `Utf8View`: the same files read without copying each string (`engine::Text::Views`).
pub fn arrow_schema_with_views() -> SchemaRef {
    SCHEMA_WITH_VIEWS.clone()
}

static SCHEMA_WITH_VIEWS: LazyLock<SchemaRef> = LazyLock::new(|| {
    let fields: Vec<Field> = SCHEMA
        .fields()
        .iter()
        .map(|f| {
            let f = f.as_ref().clone();
            if *f.data_type() == DataType::Utf8 && !ID_COLUMNS.contains(&f.name().as_str()) {
                f.with_data_type(DataType::Utf8View)
            } else {
                f
            }
        })
        .collect();
    Arc::new(Schema::new(fields))
});

/// The per-call columns only ([`apex_core::workload::COLUMNS`]): synth's Parquet files,
/// whose records are always single clean calls.
pub fn record_schema() -> SchemaRef {
    RECORD_SCHEMA.clone()
}

/// The accounting columns of `rows` single clean calls: weight 1, not aggregated, no flags
/// (synthetic records, and records of the SQLite layout, which had no accounting).
pub fn clean_accounting(rows: usize) -> [ArrayRef; 3] {
    [
        Arc::new(Int64Array::from_value(1, rows)),
        Arc::new(BooleanArray::from(vec![false; rows])),
        new_null_array(&DataType::Utf8, rows),
    ]
}

/// How every Parquet file is written (dataset parts and synth's files): Snappy, 64K-row
/// groups, chunk statistics for row-group pruning, no per-page column or offset indexes.
///
/// The writer keeps every row group's metadata for the footer, so what it keeps per group is
/// what grows with a file (bounded by rolling over to new part files): min/max of random hex
/// ids are useless to a reader and cost ~70 bytes per column chunk and page, so they have
/// none. 64K-row groups halve the footer of 32K ones and keep the group being written
/// (buffered until complete) small: synth's peak RSS at 10M records 58 MB, against 73 MB with
/// 128K groups and 96 MB with 256K (tools/bench/synth.sh). Random ids hardly repeat, so a
/// dictionary for them would be built only to be thrown away at the size limit: writing them
/// plain saves ~10% of the CPU and 1.5-4% of the file.
pub fn writer_properties() -> WriterProperties {
    let mut props = WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .set_max_row_group_size(ROW_GROUP_ROWS)
        .set_statistics_enabled(EnabledStatistics::Chunk)
        .set_offset_index_disabled(true)
        .set_created_by(format!("netra-apex {}", env!("CARGO_PKG_VERSION")));
    for col in ID_COLUMNS {
        props = props
            .set_column_statistics_enabled(ColumnPath::from(*col), EnabledStatistics::None)
            .set_column_dictionary_enabled(ColumnPath::from(*col), false);
    }
    props.build()
}

/// RFC 3339 (UTC, milliseconds) of a millisecond timestamp, the form reports show.
pub fn format_timestamp_ms(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
        .unwrap_or_else(|| ms.to_string())
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
    let n = records.len();
    let strings = |f: &dyn Fn(&WorkloadRecord) -> Option<&str>| -> ArrayRef {
        let bytes: usize = records.iter().map(|r| f(r).map_or(0, str::len)).sum();
        let mut b = StringBuilder::with_capacity(n, bytes);
        for r in records {
            b.append_option(f(r));
        }
        Arc::new(b.finish())
    };
    let ints = |f: &dyn Fn(&WorkloadRecord) -> u64| -> ArrayRef {
        Arc::new(Int64Array::from_iter_values(
            records.iter().map(|r| f(r).min(i64::MAX as u64) as i64),
        ))
    };
    let mut ts = Vec::with_capacity(n);
    for (index, r) in records.iter().enumerate() {
        ts.push(parse_timestamp_ms(&r.timestamp).ok_or_else(|| RecordError {
            index,
            message: format!("timestamp `{}` is not an RFC 3339 time", r.timestamp),
        })?);
    }
    let columns: Vec<ArrayRef> = vec![
        strings(&|r| Some(&r.event_id)),
        strings(&|r| Some(&r.trace_id)),
        strings(&|r| Some(&r.span_id)),
        strings(&|r| r.parent_span_id.as_deref()),
        Arc::new(TimestampMillisecondArray::from(ts).with_timezone("UTC")),
        strings(&|r| Some(&r.tenant)),
        strings(&|r| Some(&r.feature)),
        strings(&|r| Some(&r.workload_type)),
        strings(&|r| Some(&r.operation)),
        strings(&|r| Some(&r.provider)),
        strings(&|r| Some(&r.model)),
        ints(&|r| r.input_tokens),
        ints(&|r| r.output_tokens),
        ints(&|r| r.cache_read_tokens),
        ints(&|r| r.cache_write_tokens),
        ints(&|r| r.reasoning_tokens),
        Arc::new(Float64Array::from_iter_values(
            records.iter().map(|r| r.latency_ms),
        )),
        Arc::new(records.iter().map(|r| r.ttft_ms).collect::<Float64Array>()),
        strings(&|r| Some(&r.status)),
        strings(&|r| r.error_type.as_deref()),
        strings(&|r| r.finish_reason.as_deref()),
        strings(&|r| r.prompt_hash.as_deref()),
        Arc::new(Float64Array::from_iter_values(
            records.iter().map(|r| r.cost_usd),
        )),
        ints(&|r| r.weight),
        Arc::new(
            records
                .iter()
                .map(|r| Some(r.aggregated))
                .collect::<BooleanArray>(),
        ),
        strings(&|r| r.quality_flags.as_deref()),
    ];
    RecordBatch::try_new(arrow_schema(), columns).map_err(|e| RecordError {
        index: 0,
        message: e.to_string(),
    })
}

/// The records of a batch in [`arrow_schema`] (for tests and exports; analyses use SQL).
pub fn batch_to_records(batch: &RecordBatch) -> Result<Vec<WorkloadRecord>, String> {
    let col = |name: &str| -> Result<&ArrayRef, String> {
        batch
            .column_by_name(name)
            .ok_or_else(|| format!("the batch has no column `{name}`"))
    };
    let text = |name: &str| -> Result<&StringArray, String> {
        col(name)?
            .as_any()
            .downcast_ref::<StringArray>()
            .ok_or_else(|| format!("column `{name}` is not text"))
    };
    let int = |name: &str| -> Result<&Int64Array, String> {
        col(name)?
            .as_any()
            .downcast_ref::<Int64Array>()
            .ok_or_else(|| format!("column `{name}` is not a 64-bit integer"))
    };
    let float = |name: &str| -> Result<&Float64Array, String> {
        col(name)?
            .as_any()
            .downcast_ref::<Float64Array>()
            .ok_or_else(|| format!("column `{name}` is not a double"))
    };
    let ts = col("timestamp")?
        .as_any()
        .downcast_ref::<TimestampMillisecondArray>()
        .ok_or("column `timestamp` is not a millisecond timestamp")?;
    let (event_id, trace_id, span_id, parent) = (
        text("event_id")?,
        text("trace_id")?,
        text("span_id")?,
        text("parent_span_id")?,
    );
    let (tenant, feature, workload_type, operation) = (
        text("tenant")?,
        text("feature")?,
        text("workload_type")?,
        text("operation")?,
    );
    let (provider, model, status) = (text("provider")?, text("model")?, text("status")?);
    let (error_type, finish_reason, prompt_hash) = (
        text("error_type")?,
        text("finish_reason")?,
        text("prompt_hash")?,
    );
    let (input, output, cache_read, cache_write, reasoning) = (
        int("input_tokens")?,
        int("output_tokens")?,
        int("cache_read_tokens")?,
        int("cache_write_tokens")?,
        int("reasoning_tokens")?,
    );
    let (latency, ttft, cost) = (float("latency_ms")?, float("ttft_ms")?, float("cost_usd")?);
    let (weight, flags) = (int("weight")?, text("quality_flags")?);
    let aggregated = col("aggregated")?
        .as_any()
        .downcast_ref::<BooleanArray>()
        .ok_or("column `aggregated` is not a boolean")?;
    let opt = |a: &StringArray, i: usize| (!a.is_null(i)).then(|| a.value(i).to_string());
    Ok((0..batch.num_rows())
        .map(|i| WorkloadRecord {
            event_id: event_id.value(i).to_string(),
            trace_id: trace_id.value(i).to_string(),
            span_id: span_id.value(i).to_string(),
            parent_span_id: opt(parent, i),
            timestamp: format_timestamp_ms(ts.value(i)),
            tenant: tenant.value(i).to_string(),
            feature: feature.value(i).to_string(),
            workload_type: workload_type.value(i).to_string(),
            operation: operation.value(i).to_string(),
            provider: provider.value(i).to_string(),
            model: model.value(i).to_string(),
            input_tokens: input.value(i).max(0) as u64,
            output_tokens: output.value(i).max(0) as u64,
            cache_read_tokens: cache_read.value(i).max(0) as u64,
            cache_write_tokens: cache_write.value(i).max(0) as u64,
            reasoning_tokens: reasoning.value(i).max(0) as u64,
            latency_ms: latency.value(i),
            ttft_ms: (!ttft.is_null(i)).then(|| ttft.value(i)),
            status: status.value(i).to_string(),
            error_type: opt(error_type, i),
            finish_reason: opt(finish_reason, i),
            prompt_hash: opt(prompt_hash, i),
            cost_usd: cost.value(i),
            weight: weight.value(i).max(0) as u64,
            aggregated: aggregated.value(i),
            quality_flags: opt(flags, i),
        })
        .collect())
}
