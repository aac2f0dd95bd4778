//! The data agent's analysis: a dataset's aggregates gathered by the columnar engine
//! (`collect`), turned into the cost analysis of a report — spend by provider, model,
//! feature, tenant and day, token and latency percentiles, failures and their cost,
//! daily-spend anomalies, repeated prompts.
//!
//! Every figure carries the SQL that reproduces it (`sql`), which runs unchanged in DuckDB
//! and Spark SQL. It does not price alternatives or recommend anything (that is `optimize`).

pub mod breakdowns;
pub mod collect;
pub mod distributions;
pub mod duplicates;
pub mod exact;
pub mod prefix;
pub mod sql;
pub mod stream;

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;
use tokio_util::sync::CancellationToken;
use xxhash_rust::xxh3::Xxh3DefaultBuilder;

use apex_store::Store;

use super::AgentError;
pub use sql::Dimension;

/// Successful calls at most this long (input) are "short" for right-sizing.
pub const SHORT_INPUT_TOKENS: u64 = 1_000;
/// Successful calls with at most this many output tokens are "short" for right-sizing.
pub const SHORT_OUTPUT_TOKENS: u64 = 300;
/// Breakdowns longer than this keep their most expensive rows only.
pub const MAX_BREAKDOWN_ROWS: usize = 25;
/// |robust z| above this flags a day's spend as an anomaly.
pub const ANOMALY_Z: f64 = 3.5;

type FastMap<K, V> = HashMap<K, V, Xxh3DefaultBuilder>;

/// Calls, spend, tokens and failures of a set of model calls.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Agg {
    pub calls: u64,
    pub spend: f64,
    pub input: u64,
    pub output: u64,
    pub cache_read: u64,
    pub cache_write: u64,
    pub failed: u64,
    pub failed_cost: f64,
}

impl Agg {
    fn add_agg(&mut self, o: &Agg) {
        self.calls += o.calls;
        self.spend += o.spend;
        self.input += o.input;
        self.output += o.output;
        self.cache_read += o.cache_read;
        self.cache_write += o.cache_write;
        self.failed += o.failed;
        self.failed_cost += o.failed_cost;
    }
}

/// Repeated prompts of one model: successful calls whose `prompt_hash` was already seen on
/// the same provider and model.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct DuplicateRow {
    pub provider: String,
    pub model: String,
    /// Distinct prompts sent more than once.
    pub repeated_prompts: u64,
    /// Calls carrying those prompts (first sends included).
    pub calls: u64,
    /// Calls beyond the first send of each prompt.
    pub repeats: u64,
    /// The cost of the repeats, at each prompt's average cost per call.
    pub repeat_cost_usd: f64,
}

/// A histogram of integer values: value -> (count, summed cost).
pub type Histogram = FastMap<i64, (u64, f64)>;

/// What the scan learnt about one provider's model.
#[derive(Debug, Clone, Default)]
pub struct ModelStats {
    pub provider: String,
    pub model: String,
    pub all: Agg,
    /// Successful calls within [`SHORT_INPUT_TOKENS`] / [`SHORT_OUTPUT_TOKENS`].
    pub short_ok: Agg,
    /// Successful calls of non-interactive work ([`NON_INTERACTIVE_MARKERS`]).
    pub batchable_ok: Agg,
    /// Output tokens of successful calls.
    pub output_hist: Histogram,
    /// Latency (whole ms) of every call.
    pub latency_hist: Histogram,
}

/// Successful calls of one provider, model and feature: where a prompt prefix repeats.
#[derive(Debug, Clone, Default)]
pub struct PrefixGroup {
    pub provider: String,
    pub model: String,
    pub feature: String,
    pub ok_calls: u64,
    pub ok_spend: f64,
    pub min_input: u64,
    pub cache_read: u64,
    /// Distinct 5-minute windows (of the Unix epoch) with calls: each needs a cache write.
    pub cache_windows: u64,
}

/// Everything the scan aggregated: the input of the cost analysis and the optimizer.
#[derive(Debug, Clone, Default)]
pub struct WorkloadStats {
    pub dataset: String,
    /// Every record, tool and agent spans included.
    pub records: u64,
    /// Records left out of the model calls because a child span carries their usage
    /// (rollups), and the spend they repeat.
    pub rollup_records: u64,
    pub rollup_spend: f64,
    pub total: Agg,
    pub first: Option<String>,
    pub last: Option<String>,
    pub models: Vec<ModelStats>,
    pub features: Vec<(String, Agg)>,
    pub tenants: Vec<(String, Agg)>,
    /// Sorted by day.
    pub days: Vec<(String, Agg)>,
    pub groups: Vec<PrefixGroup>,
    pub errors_by_type: Vec<(String, u64, f64)>,
    /// (provider, model, error_type, calls, cost) of failed calls billed more than 0.
    pub billed_failures: Vec<(String, String, String, u64, f64)>,
    pub latency_hist: Histogram,
    pub ttft_hist: Histogram,
    pub input_hist: Histogram,
    pub output_hist: Histogram,
    pub ok_calls: u64,
    pub ok_calls_with_hash: u64,
    pub duplicates: Vec<DuplicateRow>,
    /// Wall time of the queries (they run at once) and how many there were.
    pub scan_ms: u64,
    pub queries: usize,
    /// The queries the aggregates came from (run at once by the engine).
    pub queries_sql: Vec<String>,
    /// Parts of the dataset left out as unreadable, by name and why.
    pub warnings: Vec<String>,
}

impl WorkloadStats {
    /// Which records the figures counted as model calls, for the SQL that reproduces them.
    pub fn scope(&self) -> sql::Scope<'_> {
        sql::Scope {
            dataset: &self.dataset,
            rollups: self.rollup_records > 0,
        }
    }

    /// The order reports show: most expensive first (ties by name), days by date.
    fn sort(&mut self) {
        let by_spend = |a: &(String, Agg), b: &(String, Agg)| {
            b.1.spend.total_cmp(&a.1.spend).then_with(|| a.0.cmp(&b.0))
        };
        self.models.sort_by(|a, b| {
            b.all
                .spend
                .total_cmp(&a.all.spend)
                .then_with(|| (&a.provider, &a.model).cmp(&(&b.provider, &b.model)))
        });
        self.features.sort_by(by_spend);
        self.tenants.sort_by(by_spend);
        self.days.sort_by(|a, b| a.0.cmp(&b.0));
        self.duplicates.sort_by(|a, b| {
            b.repeat_cost_usd
                .total_cmp(&a.repeat_cost_usd)
                .then_with(|| (&a.provider, &a.model).cmp(&(&b.provider, &b.model)))
        });
        self.groups.sort_by(|a, b| {
            (&a.provider, &a.model, &a.feature).cmp(&(&b.provider, &b.model, &b.feature))
        });
        self.errors_by_type
            .sort_by(|a, b| b.2.total_cmp(&a.2).then_with(|| a.0.cmp(&b.0)));
        self.billed_failures.sort_by(|a, b| {
            b.4.total_cmp(&a.4)
                .then_with(|| (&a.0, &a.1, &a.2).cmp(&(&b.0, &b.1, &b.2)))
        });
    }
}

/// Scan `dataset` with the columnar engine and aggregate it (with the duplicate-prompt
/// query when `with_duplicates`). Parts left out as unreadable are named in `warnings`.
pub fn collect(
    store: &Store,
    dataset: &str,
    with_duplicates: bool,
    cancel: &CancellationToken,
) -> Result<WorkloadStats, AgentError> {
    apex_store::datasets::validate_name(dataset)?;
    let engine = crate::open_engine(store, &[dataset])?;
    let run = collect::runner(&engine, Some(cancel));
    let rollups = version_rollups(store, &engine, dataset, &run, Some(cancel))?;
    let mut stats = collect::collect(
        &engine,
        dataset,
        with_duplicates
            .then(|| apex_datasets::root_of(store))
            .as_deref(),
        rollups,
        cancel,
    )?;
    stats.warnings = engine.warnings().to_vec();
    Ok(stats)
}

/// The rollups of the engine's version of `dataset` (records, spend): as recorded for that
/// version (by the writer that made it, or an earlier report or ingest), else proven none by
/// [`collect::no_rollups_by_scan`] or, where that proves nothing, found by
/// [`collect::rollups`] with `run` (a join over the records: 2.4 s at 10M), and recorded, so
/// that a version is looked up once (an attached dataset's version is its listing:
/// `DatasetParts::listing`). A store that cannot read or take the record costs a look-up,
/// nothing else.
fn version_rollups(
    store: &Store,
    engine: &apex_datasets::Engine,
    dataset: &str,
    run: &collect::RunQueries<'_>,
    cancel: Option<&CancellationToken>,
) -> Result<(u64, f64), AgentError> {
    use apex_store::datasets::{
        Rollups, listing_rollups, record_listing_rollups, record_rollups, rollups_of,
    };
    let parts = engine.snapshot().dataset(dataset);
    let info = parts.map(|d| &d.info);
    // Our own dataset's version is its catalog entry; an attached one's, its listing.
    let listing = parts.and_then(|d| d.listing);
    let recorded = match (info, listing) {
        (_, Some(l)) => Some(listing_rollups(store, dataset, l)),
        (Some(info), None) => Some(rollups_of(store, info)),
        (None, None) => None,
    };
    match recorded {
        Some(Ok(Some(r))) => return Ok((r.records, r.spend_usd)),
        Some(Err(e)) => {
            tracing::warn!(dataset, error = %e, "the recorded rollup look-up could not be read; looking up again");
        }
        _ => {}
    }
    let (records, spend_usd) = if collect::no_rollups_by_scan(engine, dataset, cancel)? {
        (0, 0.0)
    } else {
        collect::rollups(dataset, run)?
    };
    // The join's hash table or sorts (hundreds of MB past tens of millions of records) are
    // freed, but glibc keeps them until asked: the figures would start on top of them.
    apex_core::memory::release_free_memory();
    let found = Rollups { records, spend_usd };
    let recorded = match (info, listing) {
        (_, Some(l)) => record_listing_rollups(store, dataset, l, found),
        (Some(info), None) => record_rollups(store, info, found, "look-up"),
        (None, None) => Ok(()),
    };
    if let Err(e) = recorded {
        tracing::warn!(dataset, error = %e, "the rollup look-up's result was not recorded");
    }
    Ok((records, spend_usd))
}

/// How a dataset's records count: model calls and their spend, rollups and theirs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Totals {
    pub model_calls: u64,
    /// Spend of the model calls (what every figure and report totals).
    pub spend_usd: f64,
    pub rollup_records: u64,
    /// Spend the rollups repeat: recorded on them, counted in their children.
    pub rollup_spend_usd: f64,
}

/// The model calls and spend of `dataset` by the reports' definition (the rollup look-up of
/// [`collect::rollups`], then one sum): what an ingest answers, agreeing with the reports.
pub fn totals(store: &Store, dataset: &str) -> Result<Totals, AgentError> {
    let engine = crate::open_engine(store, &[dataset])?;
    let run = collect::runner(&engine, None);
    let (rollup_records, rollup_spend) = version_rollups(store, &engine, dataset, &run, None)?;
    let calls = sql::Scope {
        dataset,
        rollups: rollup_records > 0,
    };
    let sum = format!(
        "{} SELECT SUM(weight), SUM(cost_usd) FROM calls",
        calls.cte()
    );
    let (model_calls, spend) = collect::count_and_sum(&engine.collect(&sum)?)?;
    Ok(Totals {
        model_calls,
        spend_usd: usd(spend),
        rollup_records,
        rollup_spend_usd: usd(rollup_spend),
    })
}

// ---------------------------------------------------------------- the cost analysis

/// Round a USD amount to micro-dollars, so that reports and their SQL agree to the digit.
pub fn usd(x: f64) -> f64 {
    (x * 1e6).round() / 1e6
}

fn pct(part: f64, whole: f64) -> f64 {
    if whole > 0.0 {
        (part / whole * 1000.0).round() / 10.0
    } else {
        0.0
    }
}

/// Dataset totals. Every record is one of: a model call (counted in every figure), a rollup
/// (a span whose children carry its usage: counted once, in the children), or another span
/// (a tool or agent span without usage).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Overview {
    pub records: u64,
    pub model_calls: u64,
    /// Spend of the model calls: what `SUM(cost_usd)` over `model_calls` answers.
    pub spend_usd: f64,
    /// Spans left out because a child span in the same trace carries their usage.
    pub rollup_records: u64,
    /// The spend those rollups repeat (already in their children's).
    pub rollup_spend_usd: f64,
    /// Spans that are neither model calls nor rollups (tool and agent spans with no usage).
    pub other_records: u64,
    /// Spend of model calls with no model or provider named (empty or `unknown`): in the
    /// totals, in no model's or provider's row of a recommendation.
    pub unattributed_spend_usd: f64,
    pub unattributed_calls: u64,
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub failed_calls: u64,
    pub error_rate_pct: f64,
    pub failed_cost_usd: f64,
    pub first: Option<String>,
    pub last: Option<String>,
    pub days: usize,
    pub sql: String,
}

/// One row of a spend breakdown.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct SpendRow {
    pub key: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
    pub calls: u64,
    pub spend_usd: f64,
    pub share_pct: f64,
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub failed_calls: u64,
}

/// Spend grouped by one dimension.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Breakdown {
    pub dimension: Dimension,
    pub rows: Vec<SpendRow>,
    /// How many groups exist; `rows` holds the most expensive [`MAX_BREAKDOWN_ROWS`].
    pub groups: usize,
    pub sql: String,
}

/// Nearest-rank percentiles of one metric.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Percentiles {
    pub metric: String,
    /// `all` or `provider/model`.
    pub scope: String,
    pub count: u64,
    pub p50: i64,
    pub p90: i64,
    pub p95: i64,
    pub p99: i64,
    pub max: i64,
    /// The query of each percentile, by name (`p50`...).
    pub sql: BTreeMap<String, String>,
}

/// Failed calls and what they cost.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Failures {
    pub failed_calls: u64,
    pub error_rate_pct: f64,
    pub failed_cost_usd: f64,
    pub by_type: Vec<ErrorRow>,
    pub sql: String,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ErrorRow {
    pub error_type: String,
    pub calls: u64,
    pub cost_usd: f64,
}

/// Days whose spend is far from the median day.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Anomalies {
    pub method: String,
    pub days_analysed: usize,
    pub median_daily_spend_usd: f64,
    pub mad_usd: f64,
    pub days: Vec<AnomalousDay>,
    /// Why no anomaly analysis was possible, when it was not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub skipped: Option<String>,
    pub sql: String,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct AnomalousDay {
    pub day: String,
    pub spend_usd: f64,
    pub robust_z: f64,
}

/// Repeated prompts.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Duplicates {
    pub ok_calls: u64,
    pub ok_calls_with_prompt_hash: u64,
    pub repeats: u64,
    /// Repeats / successful calls with a prompt hash.
    pub duplicate_rate_pct: f64,
    pub repeat_cost_usd: f64,
    pub by_model: Vec<DuplicateRow>,
    pub sql: String,
}

/// The data agent's result: the cost analysis of a report.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct CostAnalysis {
    pub dataset: String,
    pub overview: Overview,
    pub breakdowns: Vec<Breakdown>,
    pub percentiles: Vec<Percentiles>,
    pub failures: Failures,
    pub anomalies: Anomalies,
    pub duplicates: Duplicates,
    /// Parts of the dataset left out as unreadable (truncated, not Parquet), by name: the
    /// figures cover the rest.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    /// The grouped queries every figure above was computed from, in one pass of the engine
    /// (each figure's own `sql` reproduces it alone).
    pub figures_sql: Vec<String>,
}

impl CostAnalysis {
    pub fn breakdown(&self, dim: Dimension) -> Option<&Breakdown> {
        self.breakdowns.iter().find(|b| b.dimension == dim)
    }
}

fn spend_row(k: &str, a: &Agg, total: f64) -> SpendRow {
    SpendRow {
        key: k.to_string(),
        provider: None,
        calls: a.calls,
        spend_usd: usd(a.spend),
        share_pct: pct(a.spend, total),
        input_tokens: a.input,
        output_tokens: a.output,
        failed_calls: a.failed,
    }
}

fn spend_rows(items: &[(String, Agg)], total: f64) -> Vec<SpendRow> {
    items
        .iter()
        .take(MAX_BREAKDOWN_ROWS)
        .map(|(k, a)| spend_row(k, a, total))
        .collect()
}

/// Nearest-rank percentile (1-based rank `ceil(p/100 * n)`) of a histogram.
pub fn percentile_ranks(h: &Histogram, ps: &[u64]) -> (u64, Vec<(u64, i64)>, i64) {
    let mut values: Vec<(i64, u64)> = h.iter().map(|(v, (n, _))| (*v, *n)).collect();
    values.sort_unstable();
    let n: u64 = values.iter().map(|v| v.1).sum();
    let max = values.last().map(|v| v.0).unwrap_or(0);
    let mut out = Vec::new();
    for &p in ps {
        let rank = ((p * n).div_ceil(100)).max(1);
        let mut cum = 0u64;
        let mut found = 0;
        for &(v, c) in &values {
            cum += c;
            if cum >= rank {
                found = v;
                break;
            }
        }
        out.push((rank, found));
    }
    (n, out, max)
}

fn percentiles(
    calls: sql::Scope<'_>,
    metric: &str,
    scope: &str,
    expr: &str,
    extra: &str,
    h: &Histogram,
) -> Percentiles {
    let names = ["p50", "p90", "p95", "p99"];
    let (count, ranks, max) = percentile_ranks(h, &[50, 90, 95, 99]);
    let queries = names
        .iter()
        .zip(&ranks)
        .map(|(n, (rank, _))| (n.to_string(), sql::percentile(calls, expr, extra, *rank)))
        .collect();
    Percentiles {
        metric: metric.into(),
        scope: scope.into(),
        count,
        p50: ranks[0].1,
        p90: ranks[1].1,
        p95: ranks[2].1,
        p99: ranks[3].1,
        max,
        sql: queries,
    }
}

/// Median of a non-empty sorted slice.
fn median(sorted: &[f64]) -> f64 {
    let n = sorted.len();
    if n % 2 == 1 {
        sorted[n / 2]
    } else {
        (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0
    }
}

fn anomalies(calls: sql::Scope<'_>, days: &[(String, Agg)]) -> Anomalies {
    let query = sql::spend_by(calls, Dimension::Day);
    let method = format!(
        "robust z = 0.6745 * (spend - median) / MAD over daily spend; |z| > {ANOMALY_Z} is an anomaly (MAD = 0 falls back to 1.2533 * mean absolute deviation)"
    );
    let mut empty = Anomalies {
        method,
        days_analysed: days.len(),
        median_daily_spend_usd: 0.0,
        mad_usd: 0.0,
        days: Vec::new(),
        skipped: None,
        sql: query,
    };
    if days.len() < 7 {
        empty.skipped = Some(format!(
            "{} day(s) of data; at least 7 are needed to judge a day unusual",
            days.len()
        ));
        return empty;
    }
    let mut spend: Vec<f64> = days.iter().map(|d| usd(d.1.spend)).collect();
    spend.sort_by(f64::total_cmp);
    let med = median(&spend);
    let mut dev: Vec<f64> = spend.iter().map(|x| (x - med).abs()).collect();
    dev.sort_by(f64::total_cmp);
    let mad = median(&dev);
    let scale = if mad > 0.0 {
        mad / 0.6745
    } else {
        1.2533 * dev.iter().sum::<f64>() / dev.len() as f64
    };
    empty.median_daily_spend_usd = usd(med);
    empty.mad_usd = usd(mad);
    if scale <= 0.0 {
        return empty;
    }
    empty.days = days
        .iter()
        .filter_map(|(day, a)| {
            let z = (usd(a.spend) - med) / scale;
            (z.abs() > ANOMALY_Z).then(|| AnomalousDay {
                day: day.clone(),
                spend_usd: usd(a.spend),
                robust_z: (z * 100.0).round() / 100.0,
            })
        })
        .collect();
    empty
}

/// Turn the scan's aggregates into the cost analysis.
pub fn cost_analysis(stats: &WorkloadStats) -> CostAnalysis {
    let ds = stats.dataset.as_str();
    let calls = stats.scope();
    let total = stats.total.spend;
    let mut providers: BTreeMap<&str, Agg> = BTreeMap::new();
    for m in &stats.models {
        let p = providers.entry(m.provider.as_str()).or_default();
        let a = &m.all;
        p.calls += a.calls;
        p.spend += a.spend;
        p.input += a.input;
        p.output += a.output;
        p.failed += a.failed;
    }
    let mut providers: Vec<(String, Agg)> = providers
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
    providers.sort_by(|a, b| b.1.spend.total_cmp(&a.1.spend).then_with(|| a.0.cmp(&b.0)));
    let models: Vec<(String, Agg)> = stats
        .models
        .iter()
        .map(|m| (m.model.clone(), m.all.clone()))
        .collect();
    let mut model_rows = spend_rows(&models, total);
    for (row, m) in model_rows.iter_mut().zip(&stats.models) {
        row.provider = Some(m.provider.clone());
    }
    let breakdowns = vec![
        Breakdown {
            dimension: Dimension::Provider,
            rows: spend_rows(&providers, total),
            groups: providers.len(),
            sql: sql::spend_by(calls, Dimension::Provider),
        },
        Breakdown {
            dimension: Dimension::Model,
            rows: model_rows,
            groups: stats.models.len(),
            sql: sql::spend_by(calls, Dimension::Model),
        },
        Breakdown {
            dimension: Dimension::Feature,
            rows: spend_rows(&stats.features, total),
            groups: stats.features.len(),
            sql: sql::spend_by(calls, Dimension::Feature),
        },
        Breakdown {
            dimension: Dimension::Tenant,
            rows: spend_rows(&stats.tenants, total),
            groups: stats.tenants.len(),
            sql: sql::spend_by(calls, Dimension::Tenant),
        },
        Breakdown {
            dimension: Dimension::Day,
            rows: stats
                .days
                .iter()
                .map(|(k, a)| spend_row(k, a, total))
                .collect(),
            groups: stats.days.len(),
            sql: sql::spend_by(calls, Dimension::Day),
        },
    ];

    let mut pcts = Vec::new();
    if stats.total.calls > 0 {
        pcts.push(percentiles(
            calls,
            "latency_ms",
            "all",
            "FLOOR(latency_ms)",
            "",
            &stats.latency_hist,
        ));
        if !stats.ttft_hist.is_empty() {
            pcts.push(percentiles(
                calls,
                "ttft_ms",
                "all",
                "FLOOR(ttft_ms)",
                "ttft_ms IS NOT NULL",
                &stats.ttft_hist,
            ));
        }
    }
    if stats.ok_calls > 0 {
        pcts.push(percentiles(
            calls,
            "input_tokens",
            "successful calls",
            "input_tokens",
            "status = 'ok'",
            &stats.input_hist,
        ));
        pcts.push(percentiles(
            calls,
            "output_tokens",
            "successful calls",
            "output_tokens",
            "status = 'ok'",
            &stats.output_hist,
        ));
    }
    for m in stats.models.iter().take(MAX_BREAKDOWN_ROWS) {
        let extra = format!(
            "provider = {} AND model = {}",
            sql::quote(&m.provider),
            sql::quote(&m.model)
        );
        pcts.push(percentiles(
            calls,
            "latency_ms",
            &format!("{}/{}", m.provider, m.model),
            "FLOOR(latency_ms)",
            &extra,
            &m.latency_hist,
        ));
    }

    let unnamed = |v: &str| v.trim().is_empty() || v.eq_ignore_ascii_case("unknown");
    let (unattributed_calls, unattributed_spend) = stats
        .models
        .iter()
        .filter(|m| unnamed(&m.model) || unnamed(&m.provider))
        .fold((0, 0.0), |(n, c), m| (n + m.all.calls, c + m.all.spend));
    let overview = Overview {
        records: stats.records,
        model_calls: stats.total.calls,
        spend_usd: usd(total),
        rollup_records: stats.rollup_records,
        rollup_spend_usd: usd(stats.rollup_spend),
        other_records: stats
            .records
            .saturating_sub(stats.total.calls + stats.rollup_records),
        unattributed_spend_usd: usd(unattributed_spend),
        unattributed_calls,
        input_tokens: stats.total.input,
        output_tokens: stats.total.output,
        failed_calls: stats.total.failed,
        error_rate_pct: pct(stats.total.failed as f64, stats.total.calls as f64),
        failed_cost_usd: usd(stats.total.failed_cost),
        first: stats.first.clone(),
        last: stats.last.clone(),
        days: stats.days.len(),
        sql: sql::overview(calls),
    };
    let failures = Failures {
        failed_calls: stats.total.failed,
        error_rate_pct: overview.error_rate_pct,
        failed_cost_usd: overview.failed_cost_usd,
        by_type: stats
            .errors_by_type
            .iter()
            .map(|(t, n, c)| ErrorRow {
                error_type: t.clone(),
                calls: *n,
                cost_usd: usd(*c),
            })
            .collect(),
        sql: sql::errors(calls),
    };
    let repeats: u64 = stats.duplicates.iter().map(|d| d.repeats).sum();
    let repeat_cost: f64 = stats.duplicates.iter().map(|d| d.repeat_cost_usd).sum();
    let duplicates = Duplicates {
        ok_calls: stats.ok_calls,
        ok_calls_with_prompt_hash: stats.ok_calls_with_hash,
        repeats,
        duplicate_rate_pct: pct(repeats as f64, stats.ok_calls_with_hash as f64),
        repeat_cost_usd: usd(repeat_cost),
        by_model: stats
            .duplicates
            .iter()
            .map(|d| DuplicateRow {
                repeat_cost_usd: usd(d.repeat_cost_usd),
                ..d.clone()
            })
            .collect(),
        sql: sql::duplicates(calls),
    };
    CostAnalysis {
        dataset: ds.to_string(),
        overview,
        breakdowns,
        percentiles: pcts,
        failures,
        anomalies: anomalies(calls, &stats.days),
        duplicates,
        warnings: stats.warnings.clone(),
        figures_sql: stats.queries_sql.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_use_nearest_rank() {
        let mut h = Histogram::default();
        for v in 1..=100 {
            h.insert(v, (1, 0.0));
        }
        let (n, ranks, max) = percentile_ranks(&h, &[50, 95, 99]);
        assert_eq!((n, max), (100, 100));
        assert_eq!(ranks, vec![(50, 50), (95, 95), (99, 99)]);
    }
}
