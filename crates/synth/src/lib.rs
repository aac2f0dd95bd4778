//! Synthetic AI-workload data: realistic LLM call logs from a [`WorkloadProfile`], fast,
//! deterministic and streamed to a workload dataset (day-partitioned Parquet), JSONL, CSV,
//! Parquet or OTLP/JSON.
//!
//! [`generate`] is the one entry point (`run`): it validates the request, compiles the
//! profile into a plan, generates fixed-size seed-derived chunks across rayon threads, writes
//! them in order through one sink (a temp file renamed into place, see `files`; or a dataset
//! write committed at the end), reports `generation_started` / `batch_written` /
//! `generation_finished` through an [`apex_core::events::EventSink`], and returns a quality
//! report of the realized distributions. This file holds the request and outcome types. It
//! never touches MCP; the tool and the CLI are thin faces over it.

pub mod detmath;
mod encode;
mod files;
pub mod generator;
pub mod profile;
pub mod quality;
mod run;

use std::path::PathBuf;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use apex_core::pricing::PriceCatalog;
use apex_store::StoreError;
pub use files::remove_abandoned_temps;
pub use profile::WorkloadProfile;
pub use run::{generate, generate_with_part_rows};

/// Rows per Parquet row group (see `apex_datasets::schema::writer_properties`).
pub const PARQUET_ROW_GROUP: usize = apex_datasets::schema::ROW_GROUP_ROWS;

/// Rows per Parquet file (256 row groups); a larger Parquet output becomes a directory of
/// `part-00000.parquet`, `part-00001.parquet`, ... (Spark's layout; DuckDB reads it with
/// `read_parquet('NAME.parquet/*.parquet')`, pyarrow.dataset and Spark read the directory).
///
/// Why: the parquet crate's writer keeps every row group's metadata in memory until it writes
/// the footer (`SerializedFileWriter::row_groups`: per column chunk a `ColumnChunkMetaData`
/// with its statistics (`timestamp`'s), page encoding stats and definition-level
/// histograms; no column or offset indexes here), ~20 KB per 64K-row group in RSS. At 10^10
/// records in one file that is gigabytes, and the footer itself would be hundreds of MB for every reader to load.
/// The statistics are what readers prune row groups with and the rest cannot be turned off
/// in parquet 57, so the number of row groups per file is what is bounded: a part is closed
/// (its metadata freed) every 16.8M rows, which keeps the metadata at ~5 MB and the footer
/// of a part at ~0.6 MB, so memory is flat at any record count.
pub const PARQUET_PART_ROWS: u64 = 256 * PARQUET_ROW_GROUP as u64;

/// The output formats. `dataset` was called `sqlite` before datasets moved to Parquet; that
/// name is still accepted.
pub const FORMATS: &[&str] = &["dataset", "jsonl", "csv", "parquet", "otlp-json"];

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
    #[error(transparent)]
    Dataset(#[from] apex_datasets::DatasetError),
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
    /// A workload dataset in the data dir (day-partitioned Parquet), registered in the catalog.
    Dataset,
    Jsonl,
    Csv,
    Parquet,
    OtlpJson,
}

impl Format {
    pub fn parse(s: &str) -> Result<Self, SynthError> {
        Ok(match s.trim().to_ascii_lowercase().as_str() {
            "dataset" | "sqlite" => Format::Dataset,
            "jsonl" => Format::Jsonl,
            "csv" => Format::Csv,
            "parquet" => Format::Parquet,
            "otlp-json" | "otlp" => Format::OtlpJson,
            other => {
                return Err(SynthError::invalid(
                    "format",
                    format!(
                        "`{other}` is not accepted; accepted: {} (`sqlite` is the old name of dataset)",
                        FORMATS.join(", ")
                    ),
                ));
            }
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            Format::Dataset => "dataset",
            Format::Jsonl => "jsonl",
            Format::Csv => "csv",
            Format::Parquet => "parquet",
            Format::OtlpJson => "otlp-json",
        }
    }

    fn extension(self) -> &'static str {
        match self {
            Format::Dataset => "parquet",
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
    /// Output format: dataset (default; a Parquet dataset, also accepted as sqlite), jsonl, csv, parquet or otlp-json.
    #[serde(default)]
    #[arg(long)]
    pub format: Option<String>,
    /// Output file for file formats, relative to the workspace root (default: under the data dir).
    /// Parquet past 16,777,216 records becomes a directory of part-NNNNN.parquet files.
    #[serde(default)]
    #[arg(long)]
    pub output: Option<String>,
    /// Dataset name for dataset output (default: <profile>-<seed>).
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
    /// The output format as given (`dataset` when absent).
    pub fn format_name(&self) -> &str {
        self.format.as_deref().unwrap_or("dataset")
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
    /// The registered dataset (dataset output).
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
