//! Synthetic AI-workload data: realistic LLM call logs from a [`WorkloadProfile`], fast,
//! deterministic and streamed to SQLite, JSONL, CSV, Parquet or OTLP/JSON.
//!
//! [`generate`] is the one entry point: it validates the request, compiles the profile into
//! a plan, generates fixed-size seed-derived chunks across rayon threads, writes them in
//! order through one sink (temp file + rename, or a staged dataset registered in one
//! transaction), reports `generation_started` / `batch_written` / `generation_finished`
//! through an [`EventSink`], and returns a quality report of the realized distributions.
//! It never touches MCP; the tool and the CLI are thin faces over it.

pub mod detmath;
mod encode;
pub mod generator;
pub mod profile;
pub mod quality;

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::schema::types::ColumnPath;
use rayon::prelude::*;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use apex_core::events::EventSink;
use apex_core::pricing::PriceCatalog;
use apex_core::workspace::Workspace;
use apex_store::datasets::{self, StagedDataset};
use apex_store::{Store, StoreError};
use generator::{CHUNK_RECORDS, Plan, Rec};
pub use profile::WorkloadProfile;
use quality::ChunkStats;

/// Rows per Parquet row group (see `Run::write_file`).
pub const PARQUET_ROW_GROUP: usize = 65_536;

/// Rows per Parquet file (256 row groups); a larger Parquet output becomes a directory of
/// `part-00000.parquet`, `part-00001.parquet`, ... (Spark's layout; DuckDB reads it with
/// `read_parquet('NAME.parquet/*.parquet')`, pyarrow.dataset and Spark read the directory).
///
/// Why: the parquet crate's writer keeps every row group's metadata in memory until it writes
/// the footer (`SerializedFileWriter::row_groups`: per column chunk a `ColumnChunkMetaData`
/// with chunk statistics, page encoding stats and definition-level histograms; no column or
/// offset indexes here), ~20 KB per 64K-row group in RSS. At 10^10 records in one file that
/// is gigabytes, and the footer itself would be hundreds of MB for every reader to load.
/// The statistics are what readers prune row groups with and the rest cannot be turned off
/// in parquet 57, so the number of row groups per file is what is bounded: a part is closed
/// (its metadata freed) every 16.8M rows, which keeps the metadata at ~5 MB and the footer
/// of a part at ~0.6 MB, so memory is flat at any record count.
pub const PARQUET_PART_ROWS: u64 = 256 * PARQUET_ROW_GROUP as u64;

/// The output formats.
pub const FORMATS: &[&str] = &["sqlite", "jsonl", "csv", "parquet", "otlp-json"];

/// Errors of a generation. Every bad input names its field and what is accepted.
#[derive(Debug, thiserror::Error)]
pub enum SynthError {
    #[error("profile `{name}` is not known; available profiles: {}", available.join(", "))]
    UnknownProfile {
        name: String,
        available: Vec<String>,
    },
    #[error("{field}: {message}")]
    Invalid { field: String, message: String },
    #[error("cannot write {path}: {message}")]
    Io { path: PathBuf, message: String },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(
        "generation cancelled after {records} of {total} records; nothing was written or registered"
    )]
    Cancelled { records: u64, total: u64 },
}

impl SynthError {
    fn invalid(field: &str, message: impl Into<String>) -> Self {
        SynthError::Invalid {
            field: field.to_string(),
            message: message.into(),
        }
    }
}

/// The output format of a generation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Format {
    Sqlite,
    Jsonl,
    Csv,
    Parquet,
    OtlpJson,
}

impl Format {
    pub fn parse(s: &str) -> Result<Self, SynthError> {
        Ok(match s.trim().to_ascii_lowercase().as_str() {
            "sqlite" => Format::Sqlite,
            "jsonl" => Format::Jsonl,
            "csv" => Format::Csv,
            "parquet" => Format::Parquet,
            "otlp-json" | "otlp" => Format::OtlpJson,
            other => {
                return Err(SynthError::invalid(
                    "format",
                    format!(
                        "`{other}` is not accepted; accepted: {}",
                        FORMATS.join(", ")
                    ),
                ));
            }
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            Format::Sqlite => "sqlite",
            Format::Jsonl => "jsonl",
            Format::Csv => "csv",
            Format::Parquet => "parquet",
            Format::OtlpJson => "otlp-json",
        }
    }

    fn extension(self) -> &'static str {
        match self {
            Format::Sqlite => "db",
            Format::Jsonl => "jsonl",
            Format::Csv => "csv",
            Format::Parquet => "parquet",
            Format::OtlpJson => "otlp.jsonl",
        }
    }
}

/// What to generate: the arguments of `generate_synthetic_data` and of `netra-apex synth`,
/// written once. `None` fields take the profile's value (or a fresh seed).
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema, clap::Args)]
#[serde(deny_unknown_fields)]
pub struct GenerateRequest {
    /// Workload profile: ecommerce, financial, healthcare, gaming, research, coding_assistant or customer_support.
    #[arg(long, default_value = "ecommerce")]
    pub profile: String,
    /// JSON merge patch of profile fields for this call, e.g. {"volume": {"days": 7}, "models": {"gpt-4o": 0.5}}.
    #[serde(default)]
    #[arg(long, value_parser = parse_json_arg)]
    pub overrides: Option<Value>,
    /// Records to generate, 1 to 10000000000 (default: the profile's volume).
    #[serde(default)]
    #[arg(long)]
    pub count: Option<u64>,
    /// Seed for a repeatable run (default: a fresh seed, returned in the result).
    #[serde(default)]
    #[arg(long)]
    pub seed: Option<u64>,
    /// Length of the time span in days, 1 to 3660 (default: the profile's).
    #[serde(default)]
    #[arg(long, allow_hyphen_values = true)]
    pub days: Option<i64>,
    /// Start of the time span, RFC 3339 (default: the profile's, 2026-01-01T00:00:00Z).
    #[serde(default)]
    #[arg(long)]
    pub start: Option<String>,
    /// Output format: sqlite (a dataset in the store, default), jsonl, csv, parquet or otlp-json.
    #[serde(default)]
    #[arg(long)]
    pub format: Option<String>,
    /// Output file for file formats, relative to the workspace root (default: under the data dir).
    /// Parquet past 16,777,216 records becomes a directory of part-NNNNN.parquet files.
    #[serde(default)]
    #[arg(long)]
    pub output: Option<String>,
    /// Dataset name for the sqlite format (default: <profile>-<seed>).
    #[serde(default)]
    #[arg(long)]
    pub dataset: Option<String>,
    /// Worker threads (default: all cores); the output does not depend on it.
    #[serde(skip)]
    #[schemars(skip)]
    #[arg(long)]
    pub threads: Option<usize>,
}

impl GenerateRequest {
    /// The output format as given (`sqlite` when absent).
    pub fn format_name(&self) -> &str {
        self.format.as_deref().unwrap_or("sqlite")
    }
}

/// `--overrides '{"volume":{"days":7}}'` on the command line.
fn parse_json_arg(text: &str) -> Result<Value, String> {
    serde_json::from_str(text).map_err(|e| format!("not valid JSON: {e}"))
}

/// What a generation produced.
#[derive(Debug, Clone, Serialize)]
pub struct GenerateOutcome {
    pub profile: String,
    pub format: Format,
    /// The registered dataset (sqlite format).
    pub dataset: Option<String>,
    pub records: u64,
    /// The written file, relative to the root when under it.
    pub path: Option<String>,
    pub seed: u64,
    pub records_per_sec: f64,
    pub elapsed_ms: u64,
    pub bytes: Option<u64>,
    pub summary: Value,
    pub quality: Value,
}

impl GenerateOutcome {
    pub fn format_name(&self) -> &'static str {
        self.format.name()
    }
}

/// Where validated output goes.
enum Target {
    File { path: PathBuf, display: String },
    Dataset { name: String },
}

/// The profile a request resolves to, validated: profile + overrides + count/days/start.
pub fn resolve_profile(req: &GenerateRequest) -> Result<WorkloadProfile, SynthError> {
    let base = profile::load(req.profile.trim())?;
    let mut p = match &req.overrides {
        Some(o) => base.with_overrides(o)?,
        None => base,
    };
    if let Some(c) = req.count {
        p.volume.records = c;
    }
    if let Some(d) = req.days {
        p.volume.days = d;
    }
    if let Some(s) = &req.start {
        p.volume.start = s.clone();
    }
    p.validate(PriceCatalog::builtin())?;
    Ok(p)
}

/// A fresh seed from the clock, for requests without one.
pub fn fresh_seed() -> u64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    detmath::splitmix64(nanos ^ ((std::process::id() as u64) << 32)) >> 11
}

/// Generate a dataset. Long: call it from a blocking thread. Checks `cancel` between
/// batches; a cancelled or failed run leaves no file and no registered dataset.
pub fn generate(
    ws: &Workspace,
    store: Option<&Store>,
    req: &GenerateRequest,
    events: &dyn EventSink,
    cancel: &CancellationToken,
) -> Result<GenerateOutcome, SynthError> {
    generate_with_part_rows(ws, store, req, events, cancel, PARQUET_PART_ROWS)
}

/// [`generate`] with another roll-over point than [`PARQUET_PART_ROWS`], so tests can make
/// a directory of parts from a few thousand records.
#[doc(hidden)]
pub fn generate_with_part_rows(
    ws: &Workspace,
    store: Option<&Store>,
    req: &GenerateRequest,
    events: &dyn EventSink,
    cancel: &CancellationToken,
    part_rows: u64,
) -> Result<GenerateOutcome, SynthError> {
    if part_rows == 0 {
        return Err(SynthError::invalid("part_rows", "must be at least 1"));
    }
    let format = Format::parse(req.format_name())?;
    let profile = resolve_profile(req)?;
    let seed = req.seed.unwrap_or_else(fresh_seed);
    let threads = match req.threads {
        Some(0) => {
            return Err(SynthError::invalid(
                "threads",
                "0 is not accepted; accepted: 1 to 256, or leave it out for all cores",
            ));
        }
        Some(t) if t > 256 => {
            return Err(SynthError::invalid(
                "threads",
                format!("{t} is not accepted; accepted: 1 to 256"),
            ));
        }
        Some(t) => t,
        None => std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(2),
    };
    let name = req
        .dataset
        .clone()
        .unwrap_or_else(|| format!("{}-{seed}", profile.name));
    let target = match format {
        Format::Sqlite => {
            if req.output.is_some() {
                return Err(SynthError::invalid(
                    "output",
                    "not used with format sqlite: records go to the store; name the dataset with `dataset`",
                ));
            }
            datasets::validate_name(&name)
                .map_err(|e| SynthError::invalid("dataset", e.to_string()))?;
            if store.is_none() {
                return Err(SynthError::invalid(
                    "format",
                    "sqlite needs the workspace store",
                ));
            }
            Target::Dataset { name }
        }
        _ => {
            let given = match &req.output {
                Some(o) => o.clone(),
                None => ws
                    .data_dir()
                    .join("synth")
                    .join(format!("{name}.{}", format.extension()))
                    .to_string_lossy()
                    .into_owned(),
            };
            let path = ws.resolve_output(&given).map_err(|e| {
                SynthError::invalid(
                    "output",
                    format!("{e}; outputs go under the workspace root or the data dir"),
                )
            })?;
            // A directory there is replaced only when it is an earlier Parquet part output
            // (nothing but part files); any other directory is the user's and stays.
            if path.is_dir() && !is_part_dir(&path) {
                return Err(SynthError::invalid(
                    "output",
                    format!(
                        "`{given}` is a directory; give a file path (a directory is replaced only \
                         when it holds nothing but the part-NNNNN.parquet files of an earlier \
                         parquet generation)"
                    ),
                ));
            }
            Target::File {
                display: ws.relative(&path),
                path,
            }
        }
    };
    let start_ms = chrono::DateTime::parse_from_rfc3339(&profile.volume.start)
        .map(|t| t.timestamp_millis())
        .map_err(|_| SynthError::invalid("start", "not an RFC 3339 time"))?;
    let plan = Plan::new(&profile, PriceCatalog::builtin(), seed, start_ms);
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .map_err(|e| {
            SynthError::invalid("threads", format!("cannot start {threads} threads: {e}"))
        })?;
    let params = json!({
        "profile": profile.name,
        "overrides": req.overrides,
        "count": plan.total,
        "seed": seed,
        "days": profile.volume.days,
        "start": profile.volume.start,
        "format": format.name(),
        "generator": format!("netra-apex {} chunk {CHUNK_RECORDS}", env!("CARGO_PKG_VERSION")),
    });
    let started = Instant::now();
    let progress = Progress::new(plan.total, threads);
    events.expect_total(progress.events());
    events.emit(
        "generation_started",
        json!({
            "message": format!("{} records of {} as {}", plan.total, profile.name, format.name()),
            "profile": profile.name,
            "total": plan.total,
            "seed": seed,
            "format": format.name(),
            "threads": threads,
            "path": match &target { Target::File { display, .. } => Some(display.clone()), _ => None },
            "dataset": match &target { Target::Dataset { name } => Some(name.clone()), _ => None },
        }),
    );
    let run = Run {
        plan: &plan,
        pool: &pool,
        events,
        cancel,
        progress,
        started,
        spare: std::sync::Mutex::new(Vec::new()),
        part_rows,
    };
    let (stats, bytes, parts) = match &target {
        Target::File { path, .. } => {
            let (stats, parts) = run.to_file(format, path)?;
            let bytes = match parts {
                Some(_) => part_files(path).map(|files| {
                    files
                        .iter()
                        .filter_map(|f| std::fs::metadata(f).ok())
                        .map(|m| m.len())
                        .sum()
                }),
                None => std::fs::metadata(path).map(|m| m.len()).ok(),
            };
            (stats, bytes, parts)
        }
        Target::Dataset { name } => {
            let store = store
                .ok_or_else(|| SynthError::invalid("format", "sqlite needs the workspace store"))?;
            (run.to_store(store, name, &params)?, None, None)
        }
    };
    let elapsed = started.elapsed();
    let records_per_sec = plan.total as f64 / elapsed.as_secs_f64().max(1e-9);
    let quality = stats.report(&plan.expected());
    let mut summary = stats.summary(&plan.expected());
    if let (Some(parts), Target::File { display, .. }, Some(obj)) =
        (parts, &target, summary.as_object_mut())
    {
        obj.insert(
            "output".into(),
            json!({
                "layout": "directory",
                "parts": parts,
                "rows_per_part": part_rows,
                "files": format!("{display}/part-00000.parquet .. {display}/{}", part_name(parts - 1)),
                "read_with": format!("read_parquet('{display}/*.parquet') in DuckDB; pyarrow.dataset or Spark read the directory"),
            }),
        );
    }
    let (dataset, path) = match target {
        Target::File { display, .. } => (None, Some(display)),
        Target::Dataset { name } => (Some(name), None),
    };
    events.emit(
        "generation_finished",
        json!({
            "message": format!("{} records in {:.2}s ({:.0} records/s)", plan.total, elapsed.as_secs_f64(), records_per_sec),
            "records": plan.total,
            "done": plan.total,
            "total": plan.total,
            "records_per_sec": records_per_sec,
            "elapsed_ms": elapsed.as_millis() as u64,
            "path": path,
            "dataset": dataset,
            "quality_passed": quality["passed"],
        }),
    );
    Ok(GenerateOutcome {
        profile: profile.name.clone(),
        format,
        dataset,
        records: plan.total,
        path,
        seed,
        records_per_sec,
        elapsed_ms: elapsed.as_millis() as u64,
        bytes,
        summary,
        quality,
    })
}

/// When to emit `batch_written`: about every 2% of the records, never more often than a group.
struct Progress {
    total: u64,
    group: u64,
    step: u64,
}

impl Progress {
    fn new(total: u64, threads: usize) -> Self {
        let group = (threads as u64 * 4).max(4);
        let step = (total / 50).max(1);
        Self { total, group, step }
    }

    /// Chunks generated together (the unit of parallel work and of writing).
    fn group_chunks(&self) -> u64 {
        self.group
    }

    fn mark_after(&self, done: u64) -> u64 {
        (done / self.step + 1) * self.step
    }

    /// The number of events the run will emit (started + batches + finished).
    fn events(&self) -> u64 {
        let chunks = self.total.div_ceil(CHUNK_RECORDS);
        let mut n = 0;
        let mut next = self.mark_after(0);
        let mut c = 0;
        while c < chunks {
            c = (c + self.group).min(chunks);
            let done = (c * CHUNK_RECORDS).min(self.total);
            if done >= next || done == self.total {
                n += 1;
                next = self.mark_after(done);
            }
        }
        n + 2
    }
}

struct Run<'a> {
    plan: &'a Plan,
    pool: &'a rayon::ThreadPool,
    events: &'a dyn EventSink,
    cancel: &'a CancellationToken,
    progress: Progress,
    started: Instant,
    /// Written byte buffers, reused by later chunks (saves page faults at 500 MB/s).
    spare: std::sync::Mutex<Vec<Vec<u8>>>,
    /// Rows per Parquet part file (see [`PARQUET_PART_ROWS`]).
    part_rows: u64,
}

/// One generated chunk, rendered for the sink.
enum Payload {
    Bytes(Vec<u8>),
    Records(Vec<apex_core::workload::WorkloadRecord>),
    Batch(arrow::record_batch::RecordBatch),
}

struct ChunkOut {
    payload: Payload,
    stats: ChunkStats,
    records: u64,
}

impl Run<'_> {
    fn produce(
        &self,
        index: u64,
        format: Format,
        schema: &arrow::datatypes::SchemaRef,
    ) -> Result<ChunkOut, SynthError> {
        let mut recs: Vec<Rec> = Vec::with_capacity(CHUNK_RECORDS as usize);
        let mut stats = ChunkStats::new(self.plan.models.len());
        self.plan.chunk(index, &mut recs, &mut stats);
        for r in &recs {
            stats.observe(r.model as usize, r.ts_ms);
        }
        let payload = match format {
            Format::Jsonl | Format::Csv | Format::OtlpJson => {
                let mut buf = self
                    .spare
                    .lock()
                    .ok()
                    .and_then(|mut s| s.pop())
                    .unwrap_or_default();
                buf.clear();
                buf.reserve(recs.len() * 640);
                match format {
                    Format::Jsonl => encode::jsonl(self.plan, &recs, &mut buf),
                    Format::Csv => encode::csv(self.plan, &recs, &mut buf),
                    _ => encode::otlp(self.plan, &recs, &mut buf),
                }
                Payload::Bytes(buf)
            }
            Format::Parquet => Payload::Batch(
                encode::arrow_batch(self.plan, &recs, schema)
                    .map_err(|e| SynthError::invalid("format", format!("parquet batch: {e}")))?,
            ),
            Format::Sqlite => Payload::Records(encode::records(self.plan, &recs)),
        };
        Ok(ChunkOut {
            payload,
            records: recs.len() as u64,
            stats,
        })
    }

    fn generate_group(
        &self,
        first: u64,
        format: Format,
        schema: &arrow::datatypes::SchemaRef,
    ) -> Option<Result<Vec<ChunkOut>, SynthError>> {
        let chunks = self.plan.chunks();
        if first >= chunks {
            return None;
        }
        let last = (first + self.progress.group_chunks()).min(chunks);
        Some(
            (first..last)
                .into_par_iter()
                .map(|c| self.produce(c, format, schema))
                .collect(),
        )
    }

    fn report(&self, done: u64, next_mark: &mut u64) {
        if done >= *next_mark || done == self.progress.total {
            let rate = done as f64 / self.started.elapsed().as_secs_f64().max(1e-9);
            self.events.emit(
                "batch_written",
                json!({"done": done, "total": self.progress.total, "records_per_sec": rate.round()}),
            );
            *next_mark = self.progress.mark_after(done);
        }
    }

    fn cancelled(&self, done: u64) -> Option<SynthError> {
        self.cancel.is_cancelled().then_some(SynthError::Cancelled {
            records: done,
            total: self.progress.total,
        })
    }

    /// Stream to a temp file next to `path`, renamed into place only when complete. Parquet
    /// past [`Run::part_rows`] rows goes to a temp directory of part files instead, renamed
    /// into place whole the same way. Returns the number of parts when it wrote a directory.
    fn to_file(
        &self,
        format: Format,
        path: &Path,
    ) -> Result<(ChunkStats, Option<u64>), SynthError> {
        let io = |e: &dyn std::fmt::Display| SynthError::Io {
            path: path.to_path_buf(),
            message: e.to_string(),
        };
        let dir = path
            .parent()
            .ok_or_else(|| SynthError::invalid("output", "has no parent directory"))?;
        std::fs::create_dir_all(dir).map_err(|e| {
            SynthError::invalid("output", format!("cannot create {}: {e}", dir.display()))
        })?;
        let file_name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let removed = remove_abandoned_temps(dir);
        if removed > 0 {
            tracing::info!(
                "removed {removed} abandoned generation temp file(s) in {}",
                dir.display()
            );
        }
        let tmp = dir.join(temp_name(&file_name, std::process::id(), fresh_seed()));
        // The record count is known up front, so whether the output is one file or a
        // directory of parts never depends on timing or threads.
        let parts = format == Format::Parquet && self.plan.total > self.part_rows;
        let not_writable = |e: std::io::Error| {
            SynthError::invalid("output", format!("{} is not writable: {e}", dir.display()))
        };
        let (file, parts_dir) = if parts {
            std::fs::create_dir(&tmp).map_err(not_writable)?;
            match File::create(tmp.join(part_name(0))) {
                Ok(f) => (f, Some(tmp.as_path())),
                Err(e) => {
                    remove_part_dir(&tmp);
                    return Err(not_writable(e));
                }
            }
        } else {
            (File::create(&tmp).map_err(not_writable)?, None)
        };
        let result = self.write_file(format, file, &tmp, parts_dir);
        let remove_tmp = || {
            if parts {
                remove_part_dir(&tmp);
            } else {
                let _ = std::fs::remove_file(&tmp);
            }
        };
        match result {
            Ok((stats, written)) => {
                install(&tmp, path, dir, &file_name).map_err(|e| {
                    remove_tmp();
                    io(&e)
                })?;
                Ok((stats, parts.then_some(written)))
            }
            Err(e) => {
                remove_tmp();
                Err(explain_write_error(e, path))
            }
        }
    }

    /// Write every chunk to `file` (the first part file in `parts_dir` when given). Returns
    /// the stats and the number of files written.
    fn write_file(
        &self,
        format: Format,
        file: File,
        tmp: &Path,
        parts_dir: Option<&Path>,
    ) -> Result<(ChunkStats, u64), SynthError> {
        let io = |e: &dyn std::fmt::Display| SynthError::Io {
            path: tmp.to_path_buf(),
            message: e.to_string(),
        };
        let schema = encode::arrow_schema();
        enum Writer {
            Plain(BufWriter<File>),
            Parquet(Box<ParquetSink>),
        }
        let mut writer = match format {
            Format::Parquet => {
                // The writer keeps every row group's metadata (statistics, page indexes) for
                // the footer, so what it keeps per row group is what grows with the file
                // (bounded by rolling over to part files, see PARQUET_PART_ROWS): min/max of
                // random hex ids are useless to a reader and cost ~70 bytes per
                // column chunk and page; the other columns keep chunk statistics (row-group
                // pruning) without per-page column and offset indexes. 64K-row groups halve
                // the footer of 32K ones and keep the group being written (buffered in memory
                // until it is complete) small: peak RSS at 10M records 58 MB, against 73 MB
                // with 128K groups and 96 MB with 256K (tools/bench/synth.sh, README).
                // Random ids hardly repeat, so a dictionary for them is built only to be thrown
                // away at the dictionary size limit: writing them plain saves ~10% of the CPU
                // (user time 28.1 s to 25.3 s for 10M records) and 1.5-4% of the file.
                let mut props = WriterProperties::builder()
                    .set_compression(Compression::SNAPPY)
                    .set_max_row_group_size(PARQUET_ROW_GROUP)
                    .set_statistics_enabled(EnabledStatistics::Chunk)
                    .set_offset_index_disabled(true)
                    .set_created_by(format!("netra-apex {}", env!("CARGO_PKG_VERSION")));
                for col in encode::ID_COLUMNS {
                    props = props
                        .set_column_statistics_enabled(
                            ColumnPath::from(*col),
                            EnabledStatistics::None,
                        )
                        .set_column_dictionary_enabled(ColumnPath::from(*col), false);
                }
                let props = props.build();
                let writer = ArrowWriter::try_new(file, schema.clone(), Some(props.clone()))
                    .map_err(|e| io(&e))?;
                Writer::Parquet(Box::new(ParquetSink {
                    writer: Some(writer),
                    props,
                    schema: schema.clone(),
                    dir: parts_dir.map(Path::to_path_buf),
                    part_rows: if parts_dir.is_some() {
                        self.part_rows
                    } else {
                        u64::MAX
                    },
                    rows_in_part: 0,
                    parts: 1,
                }))
            }
            _ => {
                let mut w = BufWriter::with_capacity(1 << 20, file);
                if format == Format::Csv {
                    w.write_all(&encode::csv_header()).map_err(|e| io(&e))?;
                }
                Writer::Plain(w)
            }
        };
        let mut stats = ChunkStats::new(self.plan.models.len());
        let mut done = 0u64;
        let mut next_mark = self.progress.mark_after(0);
        let mut pending: Option<Vec<ChunkOut>> = None;
        let mut next_chunk = 0u64;
        loop {
            if let Some(e) = self.cancelled(done) {
                return Err(e);
            }
            let write = |outs: Vec<ChunkOut>,
                         writer: &mut Writer,
                         stats: &mut ChunkStats|
             -> Result<u64, SynthError> {
                let mut n = 0;
                for out in outs {
                    match (out.payload, &mut *writer) {
                        (Payload::Bytes(b), Writer::Plain(w)) => {
                            w.write_all(&b).map_err(|e| io(&e))?
                        }
                        (Payload::Batch(b), Writer::Parquet(w)) => {
                            w.write(&b).map_err(|e| io(&e))?
                        }
                        _ => return Err(io(&"internal: payload does not match the writer")),
                    }
                    stats.merge(&out.stats);
                    n += out.records;
                }
                Ok(n)
            };
            let to_write = pending.take();
            let had_pending = to_write.is_some();
            let (written, produced) = self.pool.install(|| {
                rayon::join(
                    || {
                        to_write
                            .map(|outs| write(outs, &mut writer, &mut stats))
                            .transpose()
                    },
                    || self.generate_group(next_chunk, format, &schema),
                )
            });
            if let Some(n) = written? {
                done += n;
                self.report(done, &mut next_mark);
            }
            match produced {
                Some(outs) => {
                    pending = Some(outs?);
                    next_chunk += self.progress.group_chunks();
                }
                None if had_pending => {}
                None => break,
            }
        }
        let files = match writer {
            Writer::Plain(mut w) => {
                // Synced once, at the end, by `install` (not per batch, which would cap
                // generation at the disk's write speed).
                w.flush().map_err(|e| io(&e))?;
                1
            }
            Writer::Parquet(w) => w.close().map_err(|e| io(&e))?,
        };
        Ok((stats, files))
    }

    /// Stage the records in the store batch by batch, then register them in one transaction.
    fn to_store(
        &self,
        store: &Store,
        name: &str,
        params: &Value,
    ) -> Result<ChunkStats, SynthError> {
        let schema = encode::arrow_schema();
        let mut staged = StagedDataset::begin(store, name, &datasets::staging_token(fresh_seed()))?;
        let mut stats = ChunkStats::new(self.plan.models.len());
        let mut done = 0u64;
        let mut next_mark = self.progress.mark_after(0);
        let mut next_chunk = 0u64;
        let result = (|| -> Result<(), SynthError> {
            loop {
                if let Some(e) = self.cancelled(done) {
                    return Err(e);
                }
                let Some(outs) = self
                    .pool
                    .install(|| self.generate_group(next_chunk, Format::Sqlite, &schema))
                else {
                    return Ok(());
                };
                next_chunk += self.progress.group_chunks();
                for out in outs? {
                    if let Payload::Records(recs) = &out.payload {
                        staged.append(store, recs)?;
                    }
                    stats.merge(&out.stats);
                    done += out.records;
                }
                self.report(done, &mut next_mark);
            }
        })();
        match result {
            Ok(()) => {
                let summary = json!({"synthetic": stats.summary(&self.plan.expected()), "quality": stats.report(&self.plan.expected())});
                staged.commit(store, "synthetic", params, &summary)?;
                Ok(stats)
            }
            Err(e) => {
                let _ = staged.abort(store);
                Err(e)
            }
        }
    }
}

/// Parquet output: one file, or part files in a directory, closing a part and starting the
/// next every `part_rows` rows so the writer's per-row-group metadata is freed (see
/// [`PARQUET_PART_ROWS`]). Parts are cut at fixed row counts, so they are the same bytes
/// for any number of threads.
struct ParquetSink {
    /// The open part; `None` only between closing one part and opening the next.
    writer: Option<ArrowWriter<File>>,
    props: WriterProperties,
    schema: arrow::datatypes::SchemaRef,
    /// The (temp) directory of the parts; `None` for a single file.
    dir: Option<PathBuf>,
    part_rows: u64,
    rows_in_part: u64,
    /// Parts opened so far.
    parts: u64,
}

impl ParquetSink {
    fn write(&mut self, batch: &arrow::record_batch::RecordBatch) -> Result<(), String> {
        let n = batch.num_rows();
        let mut offset = 0;
        while offset < n {
            // Roll over only when more rows come, so no part is ever empty.
            if self.rows_in_part >= self.part_rows {
                self.roll()?;
            }
            let room = (self.part_rows - self.rows_in_part).min((n - offset) as u64) as usize;
            let writer = self
                .writer
                .as_mut()
                .ok_or("internal: no open parquet part")?;
            if room == n {
                writer.write(batch)
            } else {
                writer.write(&batch.slice(offset, room))
            }
            .map_err(|e| e.to_string())?;
            self.rows_in_part += room as u64;
            offset += room;
        }
        Ok(())
    }

    /// Close the current part (writing its footer and freeing its metadata) and open the next.
    fn roll(&mut self) -> Result<(), String> {
        let dir = self
            .dir
            .as_ref()
            .ok_or("internal: a single-file parquet output cannot roll over")?;
        if let Some(w) = self.writer.take() {
            w.close().map_err(|e| e.to_string())?;
        }
        let path = dir.join(part_name(self.parts));
        let file = File::create(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        self.writer = Some(
            ArrowWriter::try_new(file, self.schema.clone(), Some(self.props.clone()))
                .map_err(|e| e.to_string())?,
        );
        self.parts += 1;
        self.rows_in_part = 0;
        Ok(())
    }

    /// Close the last part; returns the number of parts written.
    fn close(mut self) -> Result<u64, String> {
        if let Some(w) = self.writer.take() {
            w.close().map_err(|e| e.to_string())?;
        }
        Ok(self.parts)
    }
}

/// The name of part `index` in a Parquet part directory: `part-00000.parquet`, ...
fn part_name(index: u64) -> String {
    format!("part-{index:05}.parquet")
}

/// Whether `name` is a part file name (`part-` + at least five digits + `.parquet`).
fn is_part_name(name: &str) -> bool {
    name.strip_prefix("part-")
        .and_then(|r| r.strip_suffix(".parquet"))
        .is_some_and(|d| d.len() >= 5 && d.bytes().all(|b| b.is_ascii_digit()))
}

/// The files of a directory that holds nothing but part files (see [`part_name`]); `None`
/// when it holds anything else (or cannot be read), so it is not ours to replace or remove.
fn part_files(dir: &Path) -> Option<Vec<PathBuf>> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).ok()? {
        let entry = entry.ok()?;
        let is_file = entry.file_type().ok()?.is_file();
        let name = entry.file_name();
        if !is_file || !name.to_str().is_some_and(is_part_name) {
            return None;
        }
        files.push(entry.path());
    }
    files.sort();
    Some(files)
}

/// Whether `path` is a directory written by an earlier Parquet generation: at least one part
/// file and nothing else. Only such a directory is ever replaced at an output path.
fn is_part_dir(path: &Path) -> bool {
    path.is_dir() && part_files(path).is_some_and(|f| !f.is_empty())
}

/// Remove a part directory: its part files, then the directory. Anything else in it (not
/// ours) leaves the directory as it is. Returns whether the directory is gone.
fn remove_part_dir(dir: &Path) -> bool {
    let Some(files) = part_files(dir) else {
        return false;
    };
    for f in files {
        let _ = std::fs::remove_file(f);
    }
    std::fs::remove_dir(dir).is_ok()
}

/// Move a finished temp output (`tmp`, a file or a part directory) to `path`, durably (its
/// data synced before the rename, the directory after: [`apex_core::files::persist`]). A
/// file over a file (or nothing) is one rename, as always. Anything else at `path` (a part directory of
/// an earlier run, or a file where a directory now goes) cannot be renamed over, so it is
/// first renamed aside to a temp name of this process (a kill before its removal leaves it
/// to [`remove_abandoned_temps`]), the new output renamed into place, then the old removed.
fn install(tmp: &Path, path: &Path, dir: &Path, file_name: &str) -> Result<(), String> {
    let old = std::fs::symlink_metadata(path).ok();
    let old_is_dir = old.as_ref().is_some_and(|m| m.is_dir());
    if old.is_none() || (!old_is_dir && !tmp.is_dir()) {
        return apex_core::files::persist(tmp, path).map_err(|e| e.to_string());
    }
    if old_is_dir && !is_part_dir(path) {
        return Err(format!(
            "{} is now a directory that this generator did not write; it was left as it is",
            path.display()
        ));
    }
    let aside = dir.join(temp_name(file_name, std::process::id(), fresh_seed()));
    std::fs::rename(path, &aside)
        .map_err(|e| format!("cannot move the earlier output aside: {e}"))?;
    if let Err(e) = apex_core::files::persist(tmp, path) {
        // Put the earlier output back.
        let _ = std::fs::rename(&aside, path);
        return Err(e.to_string());
    }
    if old_is_dir {
        remove_part_dir(&aside);
    } else {
        let _ = std::fs::remove_file(&aside);
    }
    Ok(())
}

/// The hidden temp file a generation writes next to its output NAME: `.NAME.PID-RANDOM.tmp`,
/// renamed to NAME when complete. The writer's pid tells a later generation whether the temp
/// is abandoned (its writer was killed) or still being written.
fn temp_name(file_name: &str, pid: u32, random: u64) -> String {
    format!(".{file_name}.{pid}-{random:016x}.tmp")
}

// The writer's pid in a generation temp file name: `temp_name` writes the format of
// `apex_core::files::temp_path`, so core parses it.
use apex_core::files::temp_writer_pid;

/// Remove the generation temp files in `dir` whose writer is no longer running (a generation
/// killed mid-way, e.g. by SIGKILL), and temp part directories that hold nothing but parts. Run at the start of every file generation into `dir`.
/// Returns how many were removed; errors (a temp vanishing meanwhile) are skipped.
pub fn remove_abandoned_temps(dir: &Path) -> usize {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    let mut removed = 0;
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name.to_str().and_then(temp_writer_pid) else {
            continue;
        };
        let Ok(kind) = entry.file_type() else {
            continue;
        };
        if apex_core::files::process_alive(pid) {
            continue;
        }
        // A temp directory (Parquet parts) goes only when it holds nothing but part files.
        let gone = if kind.is_file() {
            std::fs::remove_file(entry.path()).is_ok()
        } else {
            kind.is_dir() && remove_part_dir(&entry.path())
        };
        if gone {
            removed += 1;
        }
    }
    removed
}

/// A failed write names the output (not its temp file) and, when the OS said so, that the
/// disk is full (ENOSPC) or a file size limit was reached (EFBIG).
fn explain_write_error(e: SynthError, path: &Path) -> SynthError {
    match e {
        SynthError::Io { message, .. } => {
            let full = ["os error 28", "os error 27"]
                .iter()
                .any(|code| message.contains(code));
            let message = if full {
                format!(
                    "the disk is full or a file size limit was reached ({message}); free space and retry; the partial output was removed"
                )
            } else {
                format!("{message}; the partial output was removed")
            };
            SynthError::Io {
                path: path.to_path_buf(),
                message,
            }
        }
        other => other,
    }
}

/// Every built-in profile with its parameters, for `list_workload_profiles`.
pub fn list_profiles() -> Result<Vec<WorkloadProfile>, SynthError> {
    profile::all()
}

impl apex_core::run::RunOutput for GenerateOutcome {
    fn run_result(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }
}

impl apex_core::run::RunFailure for SynthError {
    fn is_cancelled(&self) -> bool {
        matches!(self, SynthError::Cancelled { .. })
    }
}

#[cfg(test)]
mod proptests;

#[cfg(test)]
mod tests;
