//! The data agent's analysis: one streaming scan of a dataset aggregated in Rust (no rows
//! kept), plus the duplicate-prompt aggregation in SQLite on a second core, turned into the
//! cost analysis of a report — spend by provider, model, feature, tenant and day, token and
//! latency percentiles, failures and their cost, daily-spend anomalies, repeated prompts.
//!
//! Every figure carries the SQL that reproduces it (see `store::analytics`). It does not
//! price alternatives or recommend anything (that is `optimize`).

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;
use tokio_util::sync::CancellationToken;
use xxhash_rust::xxh3::Xxh3DefaultBuilder;

use apex_store::Store;
use apex_store::analytics::{self, CallRow, Dimension, DuplicateRow, NON_INTERACTIVE_MARKERS};

use super::AgentError;

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
    fn add(&mut self, r: &CallRow<'_>) {
        self.calls += 1;
        self.spend += r.cost_usd;
        self.input += r.input_tokens;
        self.output += r.output_tokens;
        self.cache_read += r.cache_read_tokens;
        self.cache_write += r.cache_write_tokens;
        if r.status != "ok" {
            self.failed += 1;
            self.failed_cost += r.cost_usd;
        }
    }
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
    /// Wall time of the scan and of the duplicate-prompt query (they run in parallel).
    pub scan_ms: u64,
    pub duplicates_ms: u64,
}

#[derive(Default)]
struct Collector {
    key: String,
    model_ids: FastMap<String, usize>,
    models: Vec<ModelStats>,
    feature_ids: FastMap<String, usize>,
    features: Vec<(String, Agg)>,
    tenant_ids: FastMap<String, usize>,
    tenants: Vec<(String, Agg)>,
    day_ids: FastMap<String, usize>,
    days: Vec<(String, Agg)>,
    group_ids: FastMap<String, usize>,
    groups: Vec<PrefixGroup>,
    group_windows: Vec<std::collections::HashSet<i64, Xxh3DefaultBuilder>>,
    non_interactive: FastMap<String, bool>,
    errors: BTreeMap<String, (u64, f64)>,
    billed: BTreeMap<(String, String, String), (u64, f64)>,
    stats: WorkloadStats,
}

fn intern<T>(
    ids: &mut FastMap<String, usize>,
    items: &mut Vec<T>,
    key: &str,
    make: impl FnOnce() -> T,
) -> usize {
    if let Some(&i) = ids.get(key) {
        return i;
    }
    items.push(make());
    ids.insert(key.to_string(), items.len() - 1);
    items.len() - 1
}

fn marked_non_interactive(s: &str) -> bool {
    let lower = s.to_ascii_lowercase();
    NON_INTERACTIVE_MARKERS.iter().any(|m| lower.contains(m))
}

/// Whether `s` (a workload type or feature) marks non-interactive work, memoized.
fn non_interactive(memo: &mut FastMap<String, bool>, s: &str) -> bool {
    if let Some(&v) = memo.get(s) {
        return v;
    }
    let v = marked_non_interactive(s);
    memo.insert(s.to_string(), v);
    v
}

impl Collector {
    fn add(&mut self, r: &CallRow<'_>) {
        let s = &mut self.stats;
        s.records += 1;
        if s.first.as_deref().is_none_or(|f| r.timestamp < f) {
            s.first = Some(r.timestamp.to_string());
        }
        if s.last.as_deref().is_none_or(|l| r.timestamp > l) {
            s.last = Some(r.timestamp.to_string());
        }
        if analytics::NON_MODEL_OPERATIONS.contains(&r.operation) {
            return;
        }
        s.total.add(r);
        let ok = r.status == "ok";
        let latency = r.latency_ms as i64;
        bump(&mut s.latency_hist, latency, r.cost_usd);
        if let Some(t) = r.ttft_ms {
            bump(&mut s.ttft_hist, t as i64, 0.0);
        }
        if ok {
            s.ok_calls += 1;
            s.ok_calls_with_hash += u64::from(r.has_prompt_hash);
            bump(&mut s.input_hist, r.input_tokens as i64, r.cost_usd);
            bump(&mut s.output_hist, r.output_tokens as i64, r.cost_usd);
        } else {
            let e = self
                .errors
                .entry(r.error_type.unwrap_or("unknown").to_string())
                .or_default();
            e.0 += 1;
            e.1 += r.cost_usd;
            if r.cost_usd > 0.0 {
                let b = self
                    .billed
                    .entry((
                        r.provider.to_string(),
                        r.model.to_string(),
                        r.error_type.unwrap_or("unknown").to_string(),
                    ))
                    .or_default();
                b.0 += 1;
                b.1 += r.cost_usd;
            }
        }

        self.key.clear();
        self.key.push_str(r.provider);
        self.key.push('\u{1f}');
        self.key.push_str(r.model);
        let m = intern(&mut self.model_ids, &mut self.models, &self.key, || {
            ModelStats {
                provider: r.provider.to_string(),
                model: r.model.to_string(),
                ..Default::default()
            }
        });
        let ms = &mut self.models[m];
        ms.all.add(r);
        bump(&mut ms.latency_hist, latency, r.cost_usd);
        if ok {
            bump(&mut ms.output_hist, r.output_tokens as i64, r.cost_usd);
            if r.input_tokens <= SHORT_INPUT_TOKENS && r.output_tokens <= SHORT_OUTPUT_TOKENS {
                ms.short_ok.add(r);
            }
            if non_interactive(&mut self.non_interactive, r.workload_type)
                || non_interactive(&mut self.non_interactive, r.feature)
            {
                ms.batchable_ok.add(r);
            }
            self.key.push('\u{1f}');
            self.key.push_str(r.feature);
            let g = intern(&mut self.group_ids, &mut self.groups, &self.key, || {
                PrefixGroup {
                    provider: r.provider.to_string(),
                    model: r.model.to_string(),
                    feature: r.feature.to_string(),
                    min_input: u64::MAX,
                    ..Default::default()
                }
            });
            if self.group_windows.len() < self.groups.len() {
                self.group_windows.push(Default::default());
            }
            if let Some(secs) = epoch_seconds(r.timestamp) {
                self.group_windows[g].insert(secs.div_euclid(300));
            }
            let g = &mut self.groups[g];
            g.ok_calls += 1;
            g.ok_spend += r.cost_usd;
            g.min_input = g.min_input.min(r.input_tokens);
            g.cache_read += r.cache_read_tokens;
        }
        let f = intern(&mut self.feature_ids, &mut self.features, r.feature, || {
            (r.feature.to_string(), Agg::default())
        });
        self.features[f].1.add(r);
        let t = intern(&mut self.tenant_ids, &mut self.tenants, r.tenant, || {
            (r.tenant.to_string(), Agg::default())
        });
        self.tenants[t].1.add(r);
        let day = r.timestamp.get(..10).unwrap_or(r.timestamp);
        let d = intern(&mut self.day_ids, &mut self.days, day, || {
            (day.to_string(), Agg::default())
        });
        self.days[d].1.add(r);
    }

    fn finish(mut self, dataset: &str, duplicates: Vec<DuplicateRow>) -> WorkloadStats {
        let mut s = std::mem::take(&mut self.stats);
        s.dataset = dataset.to_string();
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
        for (g, w) in self.groups.iter_mut().zip(&self.group_windows) {
            g.cache_windows = w.len() as u64;
        }
        self.groups.sort_by(|a, b| {
            (&a.provider, &a.model, &a.feature).cmp(&(&b.provider, &b.model, &b.feature))
        });
        s.models = self.models;
        s.features = self.features;
        s.tenants = self.tenants;
        s.days = self.days;
        s.groups = self.groups;
        let mut errors: Vec<_> = self
            .errors
            .into_iter()
            .map(|(k, v)| (k, v.0, v.1))
            .collect();
        errors.sort_by(|a, b| b.2.total_cmp(&a.2).then_with(|| a.0.cmp(&b.0)));
        s.errors_by_type = errors;
        let mut billed: Vec<_> = self
            .billed
            .into_iter()
            .map(|((p, m, e), (n, c))| (p, m, e, n, c))
            .collect();
        billed.sort_by(|a, b| b.4.total_cmp(&a.4));
        s.billed_failures = billed;
        s.duplicates = duplicates;
        s
    }
}

/// Seconds since the Unix epoch of an RFC 3339 time; fast for the stored UTC form.
pub fn epoch_seconds(ts: &str) -> Option<i64> {
    let b = ts.as_bytes();
    let utc_form = b.len() >= 20
        && b[4] == b'-'
        && b[10] == b'T'
        && (b[19] == b'Z' || (b[19] == b'.' && ts.ends_with('Z')));
    if !utc_form {
        return chrono::DateTime::parse_from_rfc3339(ts)
            .ok()
            .map(|t| t.timestamp());
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let mut v = 0i64;
        for &c in &b[r] {
            if !c.is_ascii_digit() {
                return None;
            }
            v = v * 10 + i64::from(c - b'0');
        }
        Some(v)
    };
    let (y, m, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hh, mm, ss) = (num(11..13)?, num(14..16)?, num(17..19)?);
    // days from civil (H. Hinnant)
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(days * 86_400 + hh * 3_600 + mm * 60 + ss)
}

fn bump(h: &mut Histogram, v: i64, cost: f64) {
    let e = h.entry(v).or_default();
    e.0 += 1;
    e.1 += cost;
}

/// Scan `dataset` once and aggregate it, with the duplicate-prompt query running on a
/// second reader connection at the same time.
pub fn collect(
    store: &Store,
    dataset: &str,
    with_duplicates: bool,
    cancel: &CancellationToken,
) -> Result<WorkloadStats, AgentError> {
    apex_store::datasets::validate_name(dataset)?;
    let (scan, dups) = std::thread::scope(|scope| {
        let dups = scope.spawn(|| {
            let t0 = std::time::Instant::now();
            if !with_duplicates {
                return Ok((Vec::new(), 0));
            }
            let conn = store.open_reader()?;
            let rows = analytics::duplicates(&conn, dataset)?;
            Ok((rows, t0.elapsed().as_millis() as u64))
        });
        let t0 = std::time::Instant::now();
        let scan = (|| {
            let conn = store.open_reader()?;
            let mut c = Collector::default();
            let mut seen = 0u64;
            analytics::scan_calls(&conn, dataset, |r| {
                c.add(r);
                seen += 1;
                !seen.is_multiple_of(65_536) || !cancel.is_cancelled()
            })?;
            Ok::<_, apex_store::StoreError>((c, t0.elapsed().as_millis() as u64))
        })();
        let dups = dups.join().unwrap_or_else(|_| {
            Err(apex_store::StoreError::Invalid(
                "the duplicate-prompt query thread panicked".into(),
            ))
        });
        (scan, dups)
    });
    if cancel.is_cancelled() {
        return Err(AgentError::Cancelled);
    }
    let (collector, scan_ms) = scan?;
    let (dups, duplicates_ms) = dups?;
    let mut stats = collector.finish(dataset, dups);
    stats.scan_ms = scan_ms;
    stats.duplicates_ms = duplicates_ms;
    Ok(stats)
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

/// Dataset totals.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Overview {
    pub records: u64,
    pub model_calls: u64,
    pub spend_usd: f64,
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
}

impl CostAnalysis {
    pub fn breakdown(&self, dim: Dimension) -> Option<&Breakdown> {
        self.breakdowns.iter().find(|b| b.dimension == dim)
    }
}

fn spend_rows(items: &[(String, Agg)], total: f64) -> Vec<SpendRow> {
    items
        .iter()
        .take(MAX_BREAKDOWN_ROWS)
        .map(|(k, a)| SpendRow {
            key: k.clone(),
            provider: None,
            calls: a.calls,
            spend_usd: usd(a.spend),
            share_pct: pct(a.spend, total),
            input_tokens: a.input,
            output_tokens: a.output,
            failed_calls: a.failed,
        })
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
    dataset: &str,
    metric: &str,
    scope: &str,
    expr: &str,
    extra: &str,
    h: &Histogram,
) -> Percentiles {
    let names = ["p50", "p90", "p95", "p99"];
    let (count, ranks, max) = percentile_ranks(h, &[50, 90, 95, 99]);
    let sql = names
        .iter()
        .zip(&ranks)
        .map(|(n, (rank, _))| {
            (
                n.to_string(),
                analytics::sql_percentile(dataset, expr, extra, *rank),
            )
        })
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
        sql,
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

fn anomalies(dataset: &str, days: &[(String, Agg)]) -> Anomalies {
    let sql = analytics::sql_spend_by(dataset, Dimension::Day);
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
        sql,
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
            sql: analytics::sql_spend_by(ds, Dimension::Provider),
        },
        Breakdown {
            dimension: Dimension::Model,
            rows: model_rows,
            groups: stats.models.len(),
            sql: analytics::sql_spend_by(ds, Dimension::Model),
        },
        Breakdown {
            dimension: Dimension::Feature,
            rows: spend_rows(&stats.features, total),
            groups: stats.features.len(),
            sql: analytics::sql_spend_by(ds, Dimension::Feature),
        },
        Breakdown {
            dimension: Dimension::Tenant,
            rows: spend_rows(&stats.tenants, total),
            groups: stats.tenants.len(),
            sql: analytics::sql_spend_by(ds, Dimension::Tenant),
        },
        Breakdown {
            dimension: Dimension::Day,
            rows: stats
                .days
                .iter()
                .map(|(k, a)| SpendRow {
                    key: k.clone(),
                    provider: None,
                    calls: a.calls,
                    spend_usd: usd(a.spend),
                    share_pct: pct(a.spend, total),
                    input_tokens: a.input,
                    output_tokens: a.output,
                    failed_calls: a.failed,
                })
                .collect(),
            groups: stats.days.len(),
            sql: analytics::sql_spend_by(ds, Dimension::Day),
        },
    ];

    let mut pcts = Vec::new();
    if stats.total.calls > 0 {
        pcts.push(percentiles(
            ds,
            "latency_ms",
            "all",
            "CAST(latency_ms AS INTEGER)",
            "",
            &stats.latency_hist,
        ));
        if !stats.ttft_hist.is_empty() {
            pcts.push(percentiles(
                ds,
                "ttft_ms",
                "all",
                "CAST(ttft_ms AS INTEGER)",
                " AND ttft_ms IS NOT NULL",
                &stats.ttft_hist,
            ));
        }
    }
    if stats.ok_calls > 0 {
        pcts.push(percentiles(
            ds,
            "input_tokens",
            "successful calls",
            "input_tokens",
            " AND status = 'ok'",
            &stats.input_hist,
        ));
        pcts.push(percentiles(
            ds,
            "output_tokens",
            "successful calls",
            "output_tokens",
            " AND status = 'ok'",
            &stats.output_hist,
        ));
    }
    for m in stats.models.iter().take(MAX_BREAKDOWN_ROWS) {
        let extra = format!(
            " AND provider = {} AND model = {}",
            analytics::quote(&m.provider),
            analytics::quote(&m.model)
        );
        pcts.push(percentiles(
            ds,
            "latency_ms",
            &format!("{}/{}", m.provider, m.model),
            "CAST(latency_ms AS INTEGER)",
            &extra,
            &m.latency_hist,
        ));
    }

    let overview = Overview {
        records: stats.records,
        model_calls: stats.total.calls,
        spend_usd: usd(total),
        input_tokens: stats.total.input,
        output_tokens: stats.total.output,
        failed_calls: stats.total.failed,
        error_rate_pct: pct(stats.total.failed as f64, stats.total.calls as f64),
        failed_cost_usd: usd(stats.total.failed_cost),
        first: stats.first.clone(),
        last: stats.last.clone(),
        days: stats.days.len(),
        sql: analytics::sql_overview(ds),
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
        sql: analytics::sql_errors(ds),
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
        sql: analytics::sql_duplicates(ds),
    };
    CostAnalysis {
        dataset: ds.to_string(),
        overview,
        breakdowns,
        percentiles: pcts,
        failures,
        anomalies: anomalies(ds, &stats.days),
        duplicates,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn epoch_seconds_matches_chrono() {
        for ts in [
            "2026-01-01T00:00:00.000Z",
            "2024-02-29T23:59:59.999Z",
            "1999-12-31T12:34:56Z",
            "2026-03-01T10:00:00+02:00",
        ] {
            let want = chrono::DateTime::parse_from_rfc3339(ts)
                .unwrap()
                .timestamp();
            assert_eq!(epoch_seconds(ts), Some(want), "{ts}");
        }
        assert_eq!(epoch_seconds("yesterday"), None);
    }

    #[test]
    fn percentiles_use_nearest_rank() {
        let mut h = Histogram::default();
        for v in 1..=100 {
            bump(&mut h, v, 0.0);
        }
        let (n, ranks, max) = percentile_ranks(&h, &[50, 95, 99]);
        assert_eq!((n, max), (100, 100));
        assert_eq!(ranks, vec![(50, 50), (95, 95), (99, 99)]);
    }
}
