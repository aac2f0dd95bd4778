//! A generation from request to outcome: validating the target, the plan and the thread
//! pool, then generating groups of chunks in parallel while the previous group is written
//! (rayon::join), with `batch_written` progress and cancellation between groups. File outputs
//! are written by `files`; dataset output goes through an `apex_datasets` write, visible
//! only when committed.

use std::path::PathBuf;
use std::time::Instant;

use apex_core::buffers::SpareBuffers;
use rayon::prelude::*;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use super::encode;
use super::files::{is_part_dir, part_files, part_name};
use super::generator::{CHUNK_RECORDS, Plan, Rec};
use super::quality::ChunkStats;
use super::{
    Format, GenerateOutcome, GenerateRequest, PARQUET_PART_ROWS, SynthError, fresh_seed,
    resolve_profile,
};
use apex_core::events::EventSink;
use apex_core::pricing::PriceCatalog;
use apex_core::workspace::Workspace;
use apex_datasets::{DatasetWrite, WhenBusy, WriteMode};
use apex_store::Store;
use apex_store::datasets;

/// Where validated output goes.
pub(crate) enum Target {
    File { path: PathBuf, display: String },
    Dataset { name: String },
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
        Format::Dataset => {
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
    // A Parquet file's groups are half the size: its writer holds a row group of encoded
    // columns beside them, and at four chunks a thread the 10M-record run peaked over the
    // 64 MB target (66 MB; two: 61-63 MB, 10 % slower). Text formats keep four.
    let per_thread = if format == Format::Parquet { 2 } else { 4 };
    let progress = Progress::new(plan.total, threads, per_thread);
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
        // About what is in flight: a group being written and the next being encoded.
        spare: SpareBuffers::new(64, 8 << 20),
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
            (run.to_dataset(store, name, &params)?, None, None)
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
pub(crate) struct Progress {
    total: u64,
    group: u64,
    step: u64,
}

impl Progress {
    /// `per_thread` chunks a thread in a group.
    pub(crate) fn new(total: u64, threads: usize, per_thread: u64) -> Self {
        let group = (threads as u64 * per_thread).max(4);
        let step = (total / 50).max(1);
        Self { total, group, step }
    }

    /// Chunks generated together (the unit of parallel work and of writing).
    pub(crate) fn group_chunks(&self) -> u64 {
        self.group
    }

    pub(crate) fn mark_after(&self, done: u64) -> u64 {
        (done / self.step + 1) * self.step
    }

    /// The number of events the run will emit (started + batches + finished).
    pub(crate) fn events(&self) -> u64 {
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

pub(crate) struct Run<'a> {
    pub(crate) plan: &'a Plan,
    pub(crate) pool: &'a rayon::ThreadPool,
    pub(crate) events: &'a dyn EventSink,
    pub(crate) cancel: &'a CancellationToken,
    pub(crate) progress: Progress,
    pub(crate) started: Instant,
    /// Written byte buffers, reused by later chunks (saves page faults at 500 MB/s).
    pub(crate) spare: SpareBuffers,
    /// Rows per Parquet part file (see [`PARQUET_PART_ROWS`]).
    pub(crate) part_rows: u64,
}

/// One generated chunk, rendered for the sink.
pub(crate) enum Payload {
    Bytes(Vec<u8>),
    Batch(arrow::record_batch::RecordBatch),
}

pub(crate) struct ChunkOut {
    pub(crate) payload: Payload,
    pub(crate) stats: ChunkStats,
    pub(crate) records: u64,
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
                let mut buf = self.spare.take(recs.len() * 640);
                match format {
                    Format::Jsonl => encode::jsonl(self.plan, &recs, &mut buf),
                    Format::Csv => encode::csv(self.plan, &recs, &mut buf),
                    _ => encode::otlp(self.plan, &recs, &mut buf),
                }
                Payload::Bytes(buf)
            }
            Format::Parquet | Format::Dataset => Payload::Batch(
                encode::arrow_batch(self.plan, &recs, schema)
                    .map_err(|e| SynthError::invalid("format", format!("parquet batch: {e}")))?,
            ),
        };
        Ok(ChunkOut {
            payload,
            records: recs.len() as u64,
            stats,
        })
    }

    pub(crate) fn generate_group(
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

    pub(crate) fn report(&self, done: u64, next_mark: &mut u64) {
        if done >= *next_mark || done == self.progress.total {
            let rate = done as f64 / self.started.elapsed().as_secs_f64().max(1e-9);
            self.events.emit(
                "batch_written",
                json!({"done": done, "total": self.progress.total, "records_per_sec": rate.round()}),
            );
            *next_mark = self.progress.mark_after(done);
        }
    }

    pub(crate) fn cancelled(&self, done: u64) -> Option<SynthError> {
        self.cancel.is_cancelled().then_some(SynthError::Cancelled {
            records: done,
            total: self.progress.total,
        })
    }

    /// Write the records as dataset `name` (day-partitioned Parquet): each group is
    /// generated while the previous one is written, and the dataset (replacing any of that
    /// name) becomes visible only at the commit.
    fn to_dataset(
        &self,
        store: &Store,
        name: &str,
        params: &Value,
    ) -> Result<ChunkStats, SynthError> {
        let schema = apex_datasets::schema::arrow_schema();
        let mut writer = DatasetWrite::begin(store, name, WriteMode::Replace, WhenBusy::Refuse)?;
        let mut stats = ChunkStats::new(self.plan.models.len());
        let mut done = 0u64;
        let mut next_mark = self.progress.mark_after(0);
        let mut pending: Option<Vec<ChunkOut>> = None;
        let mut next_chunk = 0u64;
        loop {
            if let Some(e) = self.cancelled(done) {
                return Err(e);
            }
            let to_write = pending.take();
            let had_pending = to_write.is_some();
            let (written, produced) = self.pool.install(|| {
                rayon::join(
                    || {
                        to_write
                            .map(|outs| -> Result<u64, SynthError> {
                                let mut n = 0;
                                for out in outs {
                                    if let Payload::Batch(b) = &out.payload {
                                        writer.append(b)?;
                                    }
                                    stats.merge(&out.stats);
                                    n += out.records;
                                }
                                Ok(n)
                            })
                            .transpose()
                    },
                    || self.generate_group(next_chunk, Format::Dataset, &schema),
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
        let summary = json!({"synthetic": stats.summary(&self.plan.expected()), "quality": stats.report(&self.plan.expected())});
        let info = writer.commit("synthetic", params, &summary)?;
        // No record here is a rollup, by construction: a span's parent is always its trace's
        // `invoke_agent` root, which carries no usage (the look-up would find 0 and 2.4 s
        // at 10M records later; tests check that it does). A store that cannot take the
        // record costs the first report that look-up, nothing else.
        let none = datasets::Rollups {
            records: 0,
            spend_usd: 0.0,
        };
        if let Err(e) = datasets::record_rollups(store, &info, none, "synth") {
            tracing::warn!(dataset = name, error = %e, "synth's rollups were not recorded");
        }
        Ok(stats)
    }
}
