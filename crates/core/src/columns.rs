//! The stored columns of workload records: their Arrow schema (the Parquet columns of
//! every dataset part and of synth's files), the builder that turns [`WorkloadRow`]s into
//! batches of them one row at a time, and the way back to [`WorkloadRecord`]s. Ingest builds
//! its batches here on its parsing threads; the dataset writer and the engine read the same
//! schema.

use std::sync::{Arc, LazyLock};

use arrow::array::{
    Array, ArrayRef, BooleanArray, BooleanBuilder, Float64Array, Float64Builder, Int64Array,
    RecordBatch, StringArray, StringBuilder, TimestampMillisecondArray,
};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use arrow::error::ArrowError;

use crate::time::format_timestamp_ms;
use crate::workload::{WorkloadRecord, WorkloadRow};

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

/// Rows appended one at a time and taken as batches in [`arrow_schema`]: every text value
/// is copied once, straight into its column.
pub struct RecordColumns {
    event_id: StringBuilder,
    trace_id: StringBuilder,
    span_id: StringBuilder,
    parent_span_id: StringBuilder,
    timestamp: Vec<i64>,
    tenant: StringBuilder,
    feature: StringBuilder,
    workload_type: StringBuilder,
    operation: StringBuilder,
    provider: StringBuilder,
    model: StringBuilder,
    tokens: [Vec<i64>; 5],
    latency_ms: Vec<f64>,
    ttft_ms: Float64Builder,
    status: StringBuilder,
    error_type: StringBuilder,
    finish_reason: StringBuilder,
    prompt_hash: StringBuilder,
    cost_usd: Vec<f64>,
    weight: Vec<i64>,
    aggregated: BooleanBuilder,
    quality_flags: StringBuilder,
}

impl RecordColumns {
    /// Columns with room for `rows` rows before they grow.
    pub fn with_capacity(rows: usize) -> Self {
        // Bytes per value: 32-hex ids, 16-hex span ids and prompt hashes, short names.
        let text = |bytes: usize| StringBuilder::with_capacity(rows, rows * bytes);
        Self {
            event_id: text(32),
            trace_id: text(32),
            span_id: text(16),
            parent_span_id: text(16),
            timestamp: Vec::with_capacity(rows),
            tenant: text(12),
            feature: text(16),
            workload_type: text(8),
            operation: text(4),
            provider: text(8),
            model: text(16),
            tokens: std::array::from_fn(|_| Vec::with_capacity(rows)),
            latency_ms: Vec::with_capacity(rows),
            ttft_ms: Float64Builder::with_capacity(rows),
            status: text(2),
            error_type: StringBuilder::new(),
            finish_reason: text(4),
            prompt_hash: text(16),
            cost_usd: Vec::with_capacity(rows),
            weight: Vec::with_capacity(rows),
            aggregated: BooleanBuilder::with_capacity(rows),
            quality_flags: StringBuilder::new(),
        }
    }

    /// Rows appended since the last [`RecordColumns::take`].
    pub fn len(&self) -> usize {
        self.timestamp.len()
    }

    pub fn is_empty(&self) -> bool {
        self.timestamp.is_empty()
    }

    /// Append one row. Counts past `i64::MAX` are stored as `i64::MAX`.
    pub fn push(&mut self, r: &WorkloadRow<'_>) {
        let int = |v: u64| v.min(i64::MAX as u64) as i64;
        self.event_id.append_value(&r.event_id);
        self.trace_id.append_value(&r.trace_id);
        self.span_id.append_value(&r.span_id);
        self.parent_span_id
            .append_option(r.parent_span_id.as_deref());
        self.timestamp.push(r.timestamp_ms);
        self.tenant.append_value(&r.tenant);
        self.feature.append_value(&r.feature);
        self.workload_type.append_value(&r.workload_type);
        self.operation.append_value(&r.operation);
        self.provider.append_value(&r.provider);
        self.model.append_value(&r.model);
        let tokens = [
            r.input_tokens,
            r.output_tokens,
            r.cache_read_tokens,
            r.cache_write_tokens,
            r.reasoning_tokens,
        ];
        for (column, v) in self.tokens.iter_mut().zip(tokens) {
            column.push(int(v));
        }
        self.latency_ms.push(r.latency_ms);
        self.ttft_ms.append_option(r.ttft_ms);
        self.status.append_value(&r.status);
        self.error_type.append_option(r.error_type.as_deref());
        self.finish_reason.append_option(r.finish_reason.as_deref());
        self.prompt_hash.append_option(r.prompt_hash.as_deref());
        self.cost_usd.push(r.cost_usd);
        self.weight.push(int(r.weight));
        self.aggregated.append_value(r.aggregated);
        self.quality_flags.append_option(r.quality_flags.as_deref());
    }

    /// The rows appended so far as one batch; the columns start empty again.
    pub fn take(&mut self) -> Result<RecordBatch, ArrowError> {
        let rows = self.len();
        let fresh = |v: &mut Vec<i64>| std::mem::replace(v, Vec::with_capacity(rows));
        let floats = |v: &mut Vec<f64>| std::mem::replace(v, Vec::with_capacity(rows));
        let text = |b: &mut StringBuilder| -> ArrayRef { Arc::new(b.finish()) };
        let [input, output, cache_read, cache_write, reasoning] = &mut self.tokens;
        let ints = |v: &mut Vec<i64>| -> ArrayRef { Arc::new(Int64Array::from(fresh(v))) };
        let columns: Vec<ArrayRef> = vec![
            text(&mut self.event_id),
            text(&mut self.trace_id),
            text(&mut self.span_id),
            text(&mut self.parent_span_id),
            Arc::new(
                TimestampMillisecondArray::from(fresh(&mut self.timestamp)).with_timezone("UTC"),
            ),
            text(&mut self.tenant),
            text(&mut self.feature),
            text(&mut self.workload_type),
            text(&mut self.operation),
            text(&mut self.provider),
            text(&mut self.model),
            ints(input),
            ints(output),
            ints(cache_read),
            ints(cache_write),
            ints(reasoning),
            Arc::new(Float64Array::from(floats(&mut self.latency_ms))),
            Arc::new(self.ttft_ms.finish()),
            text(&mut self.status),
            text(&mut self.error_type),
            text(&mut self.finish_reason),
            text(&mut self.prompt_hash),
            Arc::new(Float64Array::from(floats(&mut self.cost_usd))),
            ints(&mut self.weight),
            Arc::new(self.aggregated.finish()),
            text(&mut self.quality_flags),
        ];
        RecordBatch::try_new(arrow_schema(), columns)
    }
}

/// Records as one batch in [`arrow_schema`]; Err names the first record whose timestamp is
/// not an RFC 3339 time (by its index).
pub fn records_to_batch(records: &[WorkloadRecord]) -> Result<RecordBatch, (usize, String)> {
    let mut columns = RecordColumns::with_capacity(records.len());
    for (index, r) in records.iter().enumerate() {
        let row = r.row().ok_or_else(|| {
            (
                index,
                format!("timestamp `{}` is not an RFC 3339 time", r.timestamp),
            )
        })?;
        columns.push(&row);
    }
    columns.take().map_err(|e| (0, e.to_string()))
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::borrow::Cow;

    fn record(i: u64) -> WorkloadRecord {
        WorkloadRecord {
            event_id: format!("e{i}"),
            trace_id: "t".into(),
            span_id: format!("s{i}"),
            parent_span_id: i.is_multiple_of(2).then(|| "p".into()),
            timestamp: "2026-01-01T00:00:05.075Z".into(),
            tenant: "acme".into(),
            feature: "chat".into(),
            workload_type: "rag".into(),
            operation: "chat".into(),
            provider: "openai".into(),
            model: "gpt-4o".into(),
            input_tokens: i,
            output_tokens: 2,
            cache_read_tokens: 3,
            cache_write_tokens: 4,
            reasoning_tokens: u64::MAX,
            latency_ms: 1.5,
            ttft_ms: i.is_multiple_of(3).then_some(0.5),
            status: "ok".into(),
            error_type: None,
            finish_reason: Some("stop".into()),
            prompt_hash: Some("h".into()),
            cost_usd: 0.25,
            weight: 1,
            aggregated: i == 1,
            quality_flags: (i == 2).then(|| "unknown_model".into()),
        }
    }

    #[test]
    fn rows_become_batches_and_come_back_as_the_same_records() {
        let records: Vec<WorkloadRecord> = (0..5).map(record).collect();
        let mut columns = RecordColumns::with_capacity(2);
        for r in &records {
            columns.push(&r.row().unwrap());
        }
        assert_eq!(columns.len(), 5);
        let batch = columns.take().unwrap();
        assert!(columns.is_empty());
        assert_eq!(batch.schema(), arrow_schema());
        let back = batch_to_records(&batch).unwrap();
        // A count past i64::MAX is stored as i64::MAX.
        let want: Vec<WorkloadRecord> = records
            .iter()
            .map(|r| WorkloadRecord {
                reasoning_tokens: i64::MAX as u64,
                ..r.clone()
            })
            .collect();
        assert_eq!(back, want);
        // The columns are reused: the next batch holds only what came after.
        let mut row = records[0].row().unwrap();
        row.event_id = Cow::Owned("made".into());
        columns.push(&row);
        let next = batch_to_records(&columns.take().unwrap()).unwrap();
        assert_eq!(next.len(), 1);
        assert_eq!(next[0].event_id, "made");
        let bad = WorkloadRecord {
            timestamp: "yesterday".into(),
            ..record(0)
        };
        let e = records_to_batch(&[record(1), bad]).unwrap_err();
        assert_eq!(e.0, 1);
        assert!(e.1.contains("yesterday"), "{}", e.1);
    }
}
