//! The SQL of a report: the one definition of a model call, and the query that reproduces
//! each figure. Every query reads only `workload_records` (columns of the workload schema
//! plus the Hive partition columns `dataset` and `day`) and uses SQL that DataFusion, DuckDB
//! and Spark SQL all run unchanged: no engine-specific function, ordinal GROUP BY or
//! case-insensitive LIKE.
//!
//! Every figure query starts from the `calls` CTE ([`calls_cte`]); a change to what counts as
//! a model call (e.g. usage carried by a child span) is a change to that CTE alone.

use serde::Serialize;

/// Operations that are not model calls: tool and agent spans, whose cost (if any) is the sum
/// of their children's and would be counted twice.
pub use apex_core::workload::NON_MODEL_OPERATIONS;

/// Substrings of `workload_type` or `feature` (ASCII, case-insensitive) that mark work no
/// user waits for, which the providers' batch APIs can serve.
pub const NON_INTERACTIVE_MARKERS: &[&str] = &[
    "batch", "offline", "backfill", "nightly", "etl", "eval", "bulk", "async",
];

/// A SQL string literal.
pub fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

fn quote_list(items: &[&str]) -> String {
    if items.is_empty() {
        return "NULL".into();
    }
    items
        .iter()
        .map(|s| quote(s))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A record carries usage: tokens or a cost.
pub fn usage_predicate(alias: &str) -> String {
    format!("({alias}input_tokens > 0 OR {alias}output_tokens > 0 OR {alias}cost_usd > 0)")
}

/// The predicate of a model call over one record, before rollups: a model operation
/// (`chat`, `text_completion`, ...) or any span that carries usage (an agent or tool span
/// with tokens or a cost is where many agent frameworks record their model calls).
pub fn model_call_predicate() -> String {
    format!(
        "(operation NOT IN ({}) OR {})",
        quote_list(NON_MODEL_OPERATIONS),
        usage_predicate("")
    )
}

/// [`usage_predicate`] of one record, for code that reads records itself (the ingest's
/// count of its model calls; `tests.rs` holds the two to the same counts).
pub fn has_usage(input_tokens: i64, output_tokens: i64, cost_usd: f64) -> bool {
    input_tokens > 0 || output_tokens > 0 || cost_usd > 0.0
}

/// [`model_call_predicate`] of one record whose usage is `usage` ([`has_usage`]).
pub fn is_model_call(operation: &str, usage: bool) -> bool {
    !NON_MODEL_OPERATIONS.contains(&operation) || usage
}

/// `EXISTS` a child span in the same trace that carries usage: the record `r` is then a
/// rollup of its children's usage, not a model call of its own.
fn child_with_usage(dataset: &str) -> String {
    format!(
        "EXISTS (SELECT 1 FROM workload_records c WHERE c.dataset = {} AND c.trace_id = r.trace_id \
         AND c.parent_span_id = r.span_id AND {})",
        quote(dataset),
        usage_predicate("c.")
    )
}

/// Which records of a dataset are its model calls: the input of every figure.
///
/// A record is a model call when it is a model operation or carries usage, unless a child
/// span in the same trace carries usage (then it is a rollup, and counting it would count
/// its children's spend twice). Finding rollups takes a join; a dataset with none (every
/// synthetic one) is read with the plain predicate, which then selects the same records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Scope<'a> {
    pub dataset: &'a str,
    /// The dataset has rollup spans: exclude them with the join.
    pub rollups: bool,
}

impl<'a> Scope<'a> {
    /// `WITH calls AS (...)`: the dataset's model calls.
    pub fn cte(&self) -> String {
        calls_cte(*self)
    }
}

/// `WITH calls AS (...)`: the dataset's model calls, the input of every figure.
pub fn calls_cte(scope: Scope<'_>) -> String {
    let d = quote(scope.dataset);
    if scope.rollups {
        format!(
            "WITH calls AS (SELECT r.* FROM workload_records r WHERE r.dataset = {d} AND {} AND NOT {})",
            model_call_predicate(),
            child_with_usage(scope.dataset)
        )
    } else {
        format!(
            "WITH calls AS (SELECT * FROM workload_records WHERE dataset = {d} AND {})",
            model_call_predicate()
        )
    }
}

/// The rollup spans of a dataset (records that would be model calls but have a child that
/// carries usage): how many, and the usage they repeat.
pub fn rollups(dataset: &str) -> String {
    format!(
        "SELECT COUNT(*) AS rollup_records, SUM(cost_usd) AS rollup_spend_usd, \
         SUM(input_tokens) AS rollup_input_tokens, SUM(output_tokens) AS rollup_output_tokens \
         FROM workload_records r WHERE r.dataset = {} AND {} AND {}",
        quote(dataset),
        model_call_predicate(),
        child_with_usage(dataset)
    )
}

/// A first look for rollups: records with usage whose parent is a record that would be a
/// model call and carries usage (in any trace). 0 proves there are no rollups; anything else
/// is confirmed by the exact join of [`rollups`], which runs only then (rare), alone.
///
/// The children are the semi join's build side (DataFusion builds on the left): only records
/// that have a parent, by their parent id. Built the other way (the would-be rollups, i.e.
/// every model call, by span id) it held 755 MB at 10M records and took 3.8 s; this way
/// 311 MB and 2.4 s (BENCHMARKS.md). Memory still grows with the records that have a parent.
pub fn rollup_candidates(dataset: &str) -> String {
    let d = quote(dataset);
    format!(
        "SELECT COUNT(*) AS children, SUM(c.cost_usd) AS children_spend_usd FROM workload_records c \
         WHERE c.dataset = {d} AND {} AND c.parent_span_id IS NOT NULL AND c.parent_span_id <> '' \
         AND c.parent_span_id IN (SELECT r.span_id FROM workload_records r WHERE r.dataset = {d} \
         AND {} AND {})",
        usage_predicate("c."),
        model_call_predicate(),
        usage_predicate("r.")
    )
}

/// Every model call of every dataset, rollups excluded: the `model_calls` view of
/// `query_data`, whose totals agree with the reports'.
pub fn model_calls_view() -> String {
    format!(
        "SELECT r.* FROM workload_records r WHERE {} AND NOT EXISTS (SELECT 1 FROM workload_records c \
         WHERE c.dataset = r.dataset AND c.trace_id = r.trace_id AND c.parent_span_id = r.span_id AND {})",
        model_call_predicate(),
        usage_predicate("c.")
    )
}

/// The SQL predicate of [`NON_INTERACTIVE_MARKERS`] (ASCII case-insensitive).
pub fn non_interactive_predicate() -> String {
    let parts: Vec<String> = NON_INTERACTIVE_MARKERS
        .iter()
        .flat_map(|m| {
            [
                format!("LOWER(workload_type) LIKE '%{m}%'"),
                format!("LOWER(feature) LIKE '%{m}%'"),
            ]
        })
        .collect();
    format!("({})", parts.join(" OR "))
}

/// [`non_interactive_predicate`] applied to one row's `workload_type` and `feature` (LOWER,
/// then LIKE '%marker%'): the report's aggregates group by the two and apply it once per
/// distinct pair instead of per record.
pub fn is_non_interactive(workload_type: &str, feature: &str) -> bool {
    let (w, f) = (workload_type.to_lowercase(), feature.to_lowercase());
    NON_INTERACTIVE_MARKERS
        .iter()
        .any(|m| w.contains(m) || f.contains(m))
}

/// The calls of the records where `cond` holds: their weights summed (an aggregated usage
/// bucket stands for `weight` calls; every other record for one).
fn count_if(cond: &str) -> String {
    format!("SUM(CASE WHEN {cond} THEN weight ELSE 0 END)")
}

/// The records that are single calls, the only input of per-call figures (percentiles): an
/// aggregated bucket has no latency or size of its own.
pub const PER_CALL: &str = "aggregated = false";

/// `expr` summed over the rows where `cond` holds.
fn sum_if(cond: &str, expr: &str) -> String {
    format!("SUM(CASE WHEN {cond} THEN {expr} ELSE 0 END)")
}

/// Totals: records (every span), model calls, spend, tokens, failures, time range.
pub fn overview(scope: Scope<'_>) -> String {
    let all = format!(
        "FROM workload_records WHERE dataset = {}",
        quote(scope.dataset)
    );
    format!(
        "{} SELECT (SELECT COUNT(*) {all}) AS records, SUM(weight) AS model_calls, SUM(cost_usd) AS spend_usd, \
         SUM(input_tokens) AS input_tokens, SUM(output_tokens) AS output_tokens, \
         {} AS failed_calls, {} AS failed_cost_usd, \
         (SELECT MIN(timestamp) {all}) AS first, (SELECT MAX(timestamp) {all}) AS last FROM calls",
        scope.cte(),
        count_if("status <> 'ok'"),
        sum_if("status <> 'ok'", "cost_usd"),
    )
}

/// A dimension that spend is broken down by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Dimension {
    Provider,
    Model,
    Feature,
    Tenant,
    Day,
}

impl Dimension {
    pub const ALL: [Dimension; 5] = [
        Dimension::Provider,
        Dimension::Model,
        Dimension::Feature,
        Dimension::Tenant,
        Dimension::Day,
    ];

    /// The grouping columns.
    pub fn key_sql(self) -> &'static str {
        match self {
            Dimension::Provider => "provider",
            Dimension::Model => "provider, model",
            Dimension::Feature => "feature",
            Dimension::Tenant => "tenant",
            Dimension::Day => "day",
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Dimension::Provider => "provider",
            Dimension::Model => "model",
            Dimension::Feature => "feature",
            Dimension::Tenant => "tenant",
            Dimension::Day => "day",
        }
    }
}

/// The aggregate columns of a spend breakdown, in this order: calls, spend_usd,
/// input_tokens, output_tokens, failed_calls.
pub fn agg_columns() -> String {
    format!(
        "SUM(weight) AS calls, SUM(cost_usd) AS spend_usd, SUM(input_tokens) AS input_tokens, \
         SUM(output_tokens) AS output_tokens, {} AS failed_calls",
        count_if("status <> 'ok'")
    )
}

/// Spend, calls, tokens and failures grouped by one dimension.
pub fn spend_by(scope: Scope<'_>, dim: Dimension) -> String {
    let key = dim.key_sql();
    let order = if dim == Dimension::Day {
        key.to_string()
    } else {
        format!("spend_usd DESC, {key}")
    };
    format!(
        "{} SELECT {key}, {} FROM calls GROUP BY {key} ORDER BY {order}",
        scope.cte(),
        agg_columns()
    )
}

/// The nearest-rank percentile of `expr` over the single calls ([`PER_CALL`]) matching
/// `extra` (1-based `rank`).
pub fn percentile(scope: Scope<'_>, expr: &str, extra: &str, rank: u64) -> String {
    let filter = if extra.is_empty() {
        format!(" WHERE {PER_CALL}")
    } else {
        format!(" WHERE {PER_CALL} AND {extra}")
    };
    format!(
        "{} SELECT {expr} AS value FROM calls{filter} ORDER BY value LIMIT 1 OFFSET {}",
        scope.cte(),
        rank.saturating_sub(1)
    )
}

/// Failed model calls and what they cost, by error type.
pub fn errors(scope: Scope<'_>) -> String {
    format!(
        "{} SELECT COALESCE(error_type, 'unknown') AS error_type, SUM(weight) AS calls, SUM(cost_usd) AS cost_usd \
         FROM calls WHERE status <> 'ok' GROUP BY COALESCE(error_type, 'unknown') ORDER BY cost_usd DESC, error_type",
        scope.cte()
    )
}

/// Columns summed per model for a recommendation: calls, cost and every token count.
const PRICED_COLUMNS: &str = "SUM(weight) AS calls, SUM(cost_usd) AS cost_usd, SUM(input_tokens) AS input_tokens, \
    SUM(output_tokens) AS output_tokens, SUM(cache_read_tokens) AS cache_read_tokens, \
    SUM(cache_write_tokens) AS cache_write_tokens";

/// The condition of a short call: input and output at most the thresholds.
pub fn short_size(max_input: u64, max_output: u64) -> String {
    format!("input_tokens <= {max_input} AND output_tokens <= {max_output}")
}

/// The condition of a short successful call.
pub fn short_condition(max_input: u64, max_output: u64) -> String {
    format!("status = 'ok' AND {}", short_size(max_input, max_output))
}

/// Successful short calls (input and output at most the thresholds) per model.
pub fn short_calls(scope: Scope<'_>, max_input: u64, max_output: u64, models: &[&str]) -> String {
    format!(
        "{} SELECT provider, model, {PRICED_COLUMNS} FROM calls WHERE {} AND model IN ({}) \
         GROUP BY provider, model ORDER BY provider, model",
        scope.cte(),
        short_condition(max_input, max_output),
        quote_list(models)
    )
}

/// Successful non-interactive calls per model.
pub fn non_interactive(scope: Scope<'_>, models: &[&str]) -> String {
    format!(
        "{} SELECT provider, model, {PRICED_COLUMNS} FROM calls WHERE status = 'ok' AND {} AND model IN ({}) \
         GROUP BY provider, model ORDER BY provider, model",
        scope.cte(),
        non_interactive_predicate(),
        quote_list(models)
    )
}

/// The 5-minute window (of the Unix epoch) of a call: each window needs one cache write.
pub const CACHE_WINDOW: &str = "FLOOR(EXTRACT(EPOCH FROM timestamp) / 300)";

/// Successful calls per provider, model and feature with their smallest prompt and cache use.
pub fn prefix_groups(scope: Scope<'_>) -> String {
    format!(
        "{} SELECT provider, model, feature, SUM(weight) AS calls, SUM(cost_usd) AS cost_usd, \
         MIN(input_tokens) AS min_input_tokens, SUM(cache_read_tokens) AS cache_read_tokens, \
         COUNT(DISTINCT {CACHE_WINDOW}) AS cache_windows \
         FROM calls WHERE status = 'ok' GROUP BY provider, model, feature ORDER BY provider, model, feature",
        scope.cte()
    )
}

/// Successful calls of one model whose output exceeded `cap` tokens, with the excess.
pub fn output_tail(scope: Scope<'_>, provider: &str, model: &str, cap: u64) -> String {
    format!(
        "{} SELECT SUM(weight) AS calls, SUM(cost_usd) AS cost_usd, SUM(output_tokens - {cap}) AS excess_output_tokens \
         FROM calls WHERE status = 'ok' AND provider = {} AND model = {} AND output_tokens > {cap}",
        scope.cte(),
        quote(provider),
        quote(model)
    )
}

/// Failed calls that were billed, per model and error type.
pub fn billed_failures(scope: Scope<'_>) -> String {
    format!(
        "{} SELECT provider, model, COALESCE(error_type, 'unknown') AS error_type, SUM(weight) AS calls, \
         SUM(cost_usd) AS cost_usd FROM calls WHERE status <> 'ok' AND cost_usd > 0 \
         GROUP BY provider, model, COALESCE(error_type, 'unknown') ORDER BY cost_usd DESC, provider, model, error_type",
        scope.cte()
    )
}

/// Repeated prompts of one model: successful calls whose `prompt_hash` was already seen on
/// the same provider and model, with the cost of the repeats at each prompt's average cost.
pub fn duplicates(scope: Scope<'_>) -> String {
    format!(
        "{} SELECT provider, model, COUNT(*) AS repeated_prompts, SUM(n) AS calls, SUM(n - 1) AS repeats, \
         SUM(cost * (n - 1) / n) AS repeat_cost_usd FROM (SELECT provider, model, prompt_hash, \
         COUNT(*) AS n, SUM(cost_usd) AS cost FROM calls WHERE status = 'ok' AND prompt_hash IS NOT NULL \
         AND prompt_hash <> '' GROUP BY provider, model, prompt_hash HAVING COUNT(*) > 1) repeated \
         GROUP BY provider, model ORDER BY repeat_cost_usd DESC, provider, model",
        scope.cte()
    )
}

/// How to define `workload_records` over a data dir's datasets in DuckDB, so that every
/// query of a report runs there unchanged.
pub fn duckdb_view(datasets_dir: &str) -> String {
    format!(
        "CREATE VIEW workload_records AS SELECT * FROM read_parquet('{}/dataset=*/day=*/*.parquet', \
         hive_partitioning = true, hive_types_autocast = false)",
        datasets_dir.trim_end_matches('/').replace('\'', "''")
    )
}

/// How to define `workload_records` in DuckDB over an attached dataset's files (`glob`, e.g.
/// `/data/calls/**/*.parquet`) whose files hold the per-call columns only: the accounting
/// columns as single calls, `dataset` its name and `day` the UTC day of each timestamp, as
/// netra-apex reads them.
pub fn duckdb_attached_view(name: &str, glob: &str) -> String {
    format!(
        "CREATE VIEW workload_records AS SELECT *, CAST(1 AS BIGINT) AS weight, false AS aggregated, \
         CAST(NULL AS VARCHAR) AS quality_flags, '{}' AS dataset, \
         strftime(timezone('UTC', timestamp), '%Y-%m-%d') AS day FROM read_parquet('{}')",
        name.replace('\'', "''"),
        glob.replace('\'', "''")
    )
}
