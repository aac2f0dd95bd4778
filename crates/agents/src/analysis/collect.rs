//! Gathering a dataset's aggregates: the five queries over the `calls` CTE that define the
//! figures (two of them grouping sets), read back into [`WorkloadStats`]. The records' count
//! runs as it is in the columnar engine; the other four are counted from one stream of the
//! dataset's calls ([`super::stream`]: the engine reads, decodes and filters the Parquet
//! parts once, the counts consume): their groups are nearly one per call (distributions,
//! repeated prompts) or the engine's generic grouping was the report's largest cost
//! (breakdowns, 1.6 s of 3.4 at 10M records). No record is ever held in memory.

use std::collections::HashMap;
use std::path::Path;

use arrow::array::{Array, ArrayRef, AsArray, RecordBatch};
use arrow::datatypes::{DataType, Float64Type, Int64Type};
use tokio_util::sync::CancellationToken;
use xxhash_rust::xxh3::xxh3_64;

use super::sql::{self, Scope, quote};
use super::{Agg, ModelStats, WorkloadStats};
use super::{SHORT_INPUT_TOKENS, SHORT_OUTPUT_TOKENS};
use crate::AgentError;
use apex_datasets::Engine;

/// The sums every breakdown row carries: calls (weights summed: an aggregated usage bucket
/// stands for `weight` calls), spend, tokens, and records (`COUNT(*)`), per group of keys;
/// [`SUMS_OF_SUMS`] sums them again per grouping set.
const SUMS_BY_KEYS: &str = "SUM(weight) AS weights, SUM(cost_usd) AS spend, \
    SUM(input_tokens) AS inputs, SUM(output_tokens) AS outputs, \
    SUM(cache_read_tokens) AS cache_reads, SUM(cache_write_tokens) AS cache_writes, \
    COUNT(*) AS records";
const SUMS_OF_SUMS: &str = "SUM(weights), SUM(spend), SUM(inputs), SUM(outputs), \
    SUM(cache_reads), SUM(cache_writes), SUM(records)";

/// Where [`queries`] puts the one query the engine runs as it is; the others are the SQL of
/// figures counted from the calls' stream ([`super::stream`]).
const RECORDS: usize = 0;

/// The queries behind [`WorkloadStats`], in the order of the constants above.
///
/// Each query is one scan of the dataset: the breakdowns (by model, feature, tenant, day and
/// error type) are one query of grouping sets, and so are the distributions (latency, output
/// and input tokens, time to first token); the flags a figure filters on (successful, short,
/// with a prompt hash, billed) are grouping keys, and the rows are summed into figures here.
/// Twelve separate queries read the same columns twelve times (16.4 s at 10M records, against
/// 10.6 s for these five; BENCHMARKS.md). `GROUPING SETS` and `GROUPING()` run unchanged in
/// DuckDB and Spark SQL. These are the SQL a report cites; [`collect`] counts all but the
/// first from the calls' stream, to the same figures.
pub fn queries(scope: Scope<'_>, with_duplicates: bool) -> Vec<String> {
    let dataset = scope.dataset;
    let cte = scope.cte();
    let per_call = sql::PER_CALL;
    let ok = "status = 'ok'";
    let short = sql::short_size(SHORT_INPUT_TOKENS, SHORT_OUTPUT_TOKENS);
    let hashed = "prompt_hash IS NOT NULL AND prompt_hash <> ''";
    let error = "COALESCE(error_type, 'unknown')";
    let mut q = vec![
        format!(
            "SELECT COUNT(*), MIN(timestamp), MAX(timestamp) FROM workload_records WHERE dataset = {}",
            quote(dataset)
        ),
        // Columns: 0-2 which set (0 where grouped: by model, by tenant, by day; the errors'
        // set is none of these), 3-13 the keys, 14-20 the sums. The calls are first summed
        // by every key at once (one hash per record; 107k groups for 10M synthetic
        // records), and the grouping sets run over those sums: grouping sets straight over
        // the records hash each record once per set.
        format!(
            "{cte}, by_keys AS (SELECT provider, model, workload_type, feature, tenant, day, \
             {error} AS error_kind, {ok} AS is_ok, {short} AS is_short, {hashed} AS is_hashed, \
             cost_usd > 0 AS is_billed, {SUMS_BY_KEYS} FROM calls GROUP BY provider, model, \
             workload_type, feature, tenant, day, {error}, {ok}, {short}, {hashed}, cost_usd > 0) \
             SELECT GROUPING(workload_type), GROUPING(tenant), GROUPING(day), \
             provider, model, workload_type, feature, tenant, day, error_kind, \
             is_ok, is_short, is_hashed, is_billed, {SUMS_OF_SUMS} FROM by_keys GROUP BY GROUPING SETS (\
             (provider, model, workload_type, feature, is_ok, is_short, is_hashed), \
             (tenant, is_ok), (day, is_ok), (provider, model, error_kind, is_ok, is_billed))"
        ),
        // Columns: 0-2 which set (0 where grouped), 3-9 the keys, 10-11 records and spend.
        format!(
            "{cte} SELECT GROUPING(provider), GROUPING(output_tokens), GROUPING(input_tokens), \
             provider, model, FLOOR(latency_ms), output_tokens, input_tokens, FLOOR(ttft_ms), {ok}, \
             COUNT(*), SUM(cost_usd) FROM calls WHERE {per_call} GROUP BY GROUPING SETS (\
             (provider, model, FLOOR(latency_ms)), (provider, model, output_tokens, {ok}), \
             (input_tokens, {ok}), (FLOOR(ttft_ms)))"
        ),
        sql::prefix_groups(scope),
    ];
    if with_duplicates {
        q.push(sql::duplicates(scope));
    }
    q
}

/// One result's columns, read by index with nulls as zero / empty.
struct Rows {
    cols: Vec<ArrayRef>,
    len: usize,
}

impl Rows {
    fn new(batches: &[RecordBatch]) -> Result<Rows, AgentError> {
        let Some(first) = batches.first() else {
            return Ok(Rows {
                cols: Vec::new(),
                len: 0,
            });
        };
        let schema = first.schema();
        let batch = arrow::compute::concat_batches(&schema, batches)
            .map_err(|e| AgentError::Invalid(format!("internal: {e}")))?;
        let len = batch.num_rows();
        Ok(Rows {
            cols: batch.columns().to_vec(),
            len,
        })
    }

    fn cast(&self, col: usize, to: &DataType) -> Result<ArrayRef, AgentError> {
        if self.len == 0 {
            // an empty result may come back with no batch at all, hence no columns
            return Ok(arrow::array::new_empty_array(to));
        }
        let c = self
            .cols
            .get(col)
            .ok_or_else(|| AgentError::Invalid(format!("internal: no column {col}")))?;
        arrow::compute::cast(c, to).map_err(|e| AgentError::Invalid(format!("internal: {e}")))
    }

    fn int(&self, col: usize) -> Result<Vec<i64>, AgentError> {
        let a = self.cast(col, &DataType::Int64)?;
        let a = a.as_primitive::<Int64Type>();
        Ok((0..self.len)
            .map(|i| if a.is_null(i) { 0 } else { a.value(i) })
            .collect())
    }

    fn count(&self, col: usize) -> Result<Vec<u64>, AgentError> {
        Ok(self
            .int(col)?
            .into_iter()
            .map(|v| v.max(0) as u64)
            .collect())
    }

    fn float(&self, col: usize) -> Result<Vec<f64>, AgentError> {
        let a = self.cast(col, &DataType::Float64)?;
        let a = a.as_primitive::<Float64Type>();
        Ok((0..self.len)
            .map(|i| if a.is_null(i) { 0.0 } else { a.value(i) })
            .collect())
    }

    /// Timestamps as RFC 3339 (UTC, milliseconds); `None` for null.
    fn time(&self, col: usize) -> Result<Vec<Option<String>>, AgentError> {
        let a = self.cast(
            col,
            &DataType::Timestamp(arrow::datatypes::TimeUnit::Millisecond, None),
        )?;
        let a = a.as_primitive::<arrow::datatypes::TimestampMillisecondType>();
        Ok((0..self.len)
            .map(|i| {
                (!a.is_null(i)).then(|| apex_datasets::schema::format_timestamp_ms(a.value(i)))
            })
            .collect())
    }
}

/// `rows` summed by `key` (in the order keys first appear).
fn sum_by(rows: impl Iterator<Item = (String, Agg)>) -> Vec<(String, Agg)> {
    let mut at: HashMap<String, usize> = HashMap::new();
    let mut out: Vec<(String, Agg)> = Vec::new();
    for (k, agg) in rows {
        match at.get(&k) {
            Some(&i) => out[i].1.add_agg(&agg),
            None => {
                at.insert(k.clone(), out.len());
                out.push((k, agg));
            }
        }
    }
    out
}

fn model_key(provider: &str, model: &str) -> String {
    format!("{provider}\u{1f}{model}")
}

/// Run every query of `dataset` and gather the aggregates. `engine` must see the dataset.
/// Runs trusted queries on the caller's engine: each query's batches, in order.
pub type RunQueries<'a> = dyn Fn(&[String]) -> Result<Vec<Vec<RecordBatch>>, AgentError> + 'a;

/// A one-row result of a count (column 0) and a sum (column 1); no row, or nulls, are 0.
pub fn count_and_sum(batches: &[RecordBatch]) -> Result<(u64, f64), AgentError> {
    let rows = Rows::new(batches)?;
    if rows.len == 0 {
        return Ok((0, 0.0));
    }
    Ok((rows.count(0)?[0], rows.float(1)?[0]))
}

/// The rollup spans of `dataset` and the spend they repeat, each query run by `run` (the
/// caller's engine and cancellation). First a bounded look for candidates, alone: the exact
/// join shares the engine's memory budget with nothing else (beside the dozen figure queries
/// it ran out at 10M records); the exact count only when there are candidates (rare).
pub fn rollups(dataset: &str, run: &RunQueries<'_>) -> Result<(u64, f64), AgentError> {
    let one = |sql: String| count_and_sum(&run(&[sql])?.remove(0));
    if one(sql::rollup_candidates(dataset))?.0 == 0 {
        return Ok((0, 0.0));
    }
    one(sql::rollups(dataset))
}

/// Most distinct parent ids [`no_rollups_by_scan`] holds (8 bytes each in a list, about 16 in
/// its set): past them the join decides.
pub const MAX_PROOF_PARENTS: usize = 24_000_000;

/// Whether `dataset` provably has no rollups, found by two scans instead of a join (the
/// join of [`sql::rollup_candidates`] sorts every id and spills past tens of millions of
/// records: 37 of a 71 s report at 100M): the 64-bit hashes of the parent ids of the records
/// with usage, in a set, then the span id of every record with usage (every would-be model
/// call with usage) looked up in it. No hash in both: no record with usage is the child of
/// one with usage, so none is a rollup (the ingest's proof, over the engine's stream). False
/// when that is not proven — a hash in both (a rollup, or two ids that hash alike) or more
/// than [`MAX_PROOF_PARENTS`] distinct parents — and the join decides.
pub fn no_rollups_by_scan(
    engine: &Engine,
    dataset: &str,
    cancel: Option<&CancellationToken>,
) -> Result<bool, AgentError> {
    no_rollups_within(engine, dataset, cancel, MAX_PROOF_PARENTS)
}

/// [`no_rollups_by_scan`] holding at most `max_parents` distinct parent ids.
pub fn no_rollups_within(
    engine: &Engine,
    dataset: &str,
    cancel: Option<&CancellationToken>,
    max_parents: usize,
) -> Result<bool, AgentError> {
    let d = quote(dataset);
    let usage = sql::usage_predicate("");
    // Stops a scan early: the proof is given up (not an error).
    let mut given_up = false;
    let mut parents: Vec<u64> = Vec::new();
    let scanned = engine.scan(
        &format!(
            "SELECT parent_span_id FROM workload_records WHERE dataset = {d} AND {usage} \
             AND parent_span_id IS NOT NULL AND parent_span_id <> ''"
        ),
        cancel,
        |batch| {
            let ids = id_strings(batch)?;
            parents.extend(ids.iter().flatten().map(|id| xxh3_64(id.as_bytes())));
            if parents.len() > 2 * max_parents {
                parents.sort_unstable();
                parents.dedup();
                if parents.len() > max_parents {
                    given_up = true;
                    return Err(apex_datasets::DatasetError::Cancelled);
                }
            }
            Ok(())
        },
    );
    match scanned {
        Err(apex_datasets::DatasetError::Cancelled) if given_up => return Ok(false),
        other => other.map_err(super::stream::engine_error)?,
    }
    parents.sort_unstable();
    parents.dedup();
    if parents.len() > max_parents {
        return Ok(false);
    }
    let mut set: hashbrown::HashSet<u64, Hashed> =
        hashbrown::HashSet::with_capacity_and_hasher(parents.len(), Hashed);
    set.extend(parents);
    if set.is_empty() {
        // No record with usage has a parent: nothing can repeat a child's usage.
        return Ok(true);
    }
    let scanned = engine.scan(
        &format!("SELECT span_id FROM workload_records WHERE dataset = {d} AND {usage}"),
        cancel,
        |batch| {
            let ids = id_strings(batch)?;
            if ids
                .iter()
                .flatten()
                .any(|id| set.contains(&xxh3_64(id.as_bytes())))
            {
                given_up = true;
                return Err(apex_datasets::DatasetError::Cancelled);
            }
            Ok(())
        },
    );
    match scanned {
        Err(apex_datasets::DatasetError::Cancelled) if given_up => Ok(false),
        other => other.map(|()| true).map_err(super::stream::engine_error),
    }
}

/// The first column of `batch` (an id column) as `Utf8`.
fn id_strings(
    batch: &RecordBatch,
) -> Result<arrow::array::StringArray, apex_datasets::DatasetError> {
    let column = arrow::compute::cast(batch.column(0), &DataType::Utf8)
        .map_err(|e| apex_datasets::DatasetError::Query(e.to_string()))?;
    Ok(column.as_string::<i32>().clone())
}

/// Hashes of ids are their own hash in a set (xxh3's bits are already uniform).
#[derive(Clone, Copy, Default)]
struct Hashed;

impl std::hash::BuildHasher for Hashed {
    type Hasher = HashedHasher;
    fn build_hasher(&self) -> HashedHasher {
        HashedHasher(0)
    }
}

struct HashedHasher(u64);

impl std::hash::Hasher for HashedHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        // Only u64 keys are hashed here; anything else is folded in byte by byte.
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

/// Queries run at once by `engine`, stopped by `cancel` (when given) with
/// [`AgentError::Cancelled`].
pub fn runner<'a>(
    engine: &'a Engine,
    cancel: Option<&'a CancellationToken>,
) -> impl Fn(&[String]) -> Result<Vec<Vec<RecordBatch>>, AgentError> + 'a {
    move |sqls: &[String]| {
        let results = engine
            .collect_all(sqls, cancel)
            .map_err(super::stream::engine_error)?;
        if cancel.is_some_and(CancellationToken::is_cancelled) {
            return Err(AgentError::Cancelled);
        }
        Ok(results)
    }
}

/// The aggregates of `dataset`, whose rollup spans and the spend they repeat are
/// `(rollup_records, rollup_spend)` (what [`rollups`] finds).
///
/// The repeated prompts are counted when `duplicates_scratch` names where they may spill
/// (the datasets dir; see [`super::duplicates`]), beside the other queries.
pub fn collect(
    engine: &Engine,
    dataset: &str,
    duplicates_scratch: Option<&Path>,
    (rollup_records, rollup_spend): (u64, f64),
    cancel: &CancellationToken,
) -> Result<WorkloadStats, AgentError> {
    let started = std::time::Instant::now();
    let run = runner(engine, Some(cancel));
    let scope = Scope {
        dataset,
        rollups: rollup_records > 0,
    };
    let sqls = queries(scope, duplicates_scratch.is_some());
    // The distributions and the repeated prompts are counted from streams of the calls
    // (`distributions`, `duplicates`), beside the engine's grouped queries.
    let grouped = [sqls[RECORDS].clone()];
    let (results, streamed) = std::thread::scope(|threads| {
        let streamed = threads.spawn(move || {
            let duplicates = duplicates_scratch.map(|root| (root, super::duplicates::BUDGET));
            super::stream::count(engine, scope, duplicates, Some(cancel))
        });
        let results = run(&grouped);
        let streamed = streamed.join().unwrap_or_else(|_| {
            Err(AgentError::Invalid(
                "internal: the count of the calls' stream stopped".into(),
            ))
        });
        (results, streamed)
    });
    let (results, streamed) = (results?, streamed?);
    let dists = streamed.distributions;
    let r: Vec<Rows> = results
        .iter()
        .map(|b| Rows::new(b))
        .collect::<Result<_, _>>()?;
    let mut s = WorkloadStats {
        dataset: dataset.to_string(),
        rollup_records,
        rollup_spend,
        ..Default::default()
    };
    let rec = &r[0];
    if rec.len > 0 {
        s.records = rec.count(0)?[0];
        s.first = rec.time(1)?.remove(0);
        s.last = rec.time(2)?.remove(0);
    }

    // The breakdowns: each group of calls (by every key and flag at once) summed into the
    // figures of each grouping set of the query.
    let mut index: HashMap<String, usize> = HashMap::new();
    let (mut by_feature, mut by_tenant, mut by_day) = (Vec::new(), Vec::new(), Vec::new());
    let mut by_type: HashMap<String, (u64, f64)> = HashMap::new();
    let mut billed_failures: HashMap<(String, String, String), (u64, f64)> = HashMap::new();
    for g in streamed.breakdowns {
        let calls = g.sums.weights.max(0) as u64;
        let spend = g.sums.spend.value();
        let agg = Agg {
            calls,
            spend,
            input: g.sums.inputs.max(0) as u64,
            output: g.sums.outputs.max(0) as u64,
            cache_read: g.sums.cache_reads.max(0) as u64,
            cache_write: g.sums.cache_writes.max(0) as u64,
            failed: if g.ok { 0 } else { calls },
            failed_cost: if g.ok { 0.0 } else { spend },
        };
        // (provider, model, workload type, feature, succeeded, short, hashed)
        let k = *index
            .entry(model_key(&g.provider, &g.model))
            .or_insert_with(|| {
                s.models.push(ModelStats {
                    provider: g.provider.clone(),
                    model: g.model.clone(),
                    ..Default::default()
                });
                s.models.len() - 1
            });
        let m = &mut s.models[k];
        m.all.add_agg(&agg);
        s.total.add_agg(&agg);
        if g.ok {
            s.ok_calls += agg.calls;
            if g.hashed {
                s.ok_calls_with_hash += g.sums.records.max(0) as u64;
            }
            if g.short {
                m.short_ok.add_agg(&agg);
            }
            if sql::is_non_interactive(&g.workload_type, &g.feature) {
                m.batchable_ok.add_agg(&agg);
            }
        }
        by_feature.push((g.feature, agg.clone()));
        // (tenant, succeeded), (day, succeeded)
        by_tenant.push((g.tenant, agg.clone()));
        by_day.push((g.day, agg.clone()));
        // (provider, model, error kind, succeeded, billed): the failures
        if !g.ok {
            let t = by_type.entry(g.error_kind.clone()).or_default();
            t.0 += agg.calls;
            t.1 += agg.spend;
            if g.billed {
                let f = billed_failures
                    .entry((g.provider, g.model, g.error_kind))
                    .or_default();
                f.0 += agg.calls;
                f.1 += agg.spend;
            }
        }
    }
    s.features = sum_by(by_feature.into_iter());
    s.tenants = sum_by(by_tenant.into_iter());
    s.days = sum_by(by_day.into_iter());
    s.errors_by_type = by_type.into_iter().map(|(k, (n, c))| (k, n, c)).collect();
    s.billed_failures = billed_failures
        .into_iter()
        .filter(|(_, (n, _))| *n > 0)
        .map(|((p, m, t), (n, c))| (p, m, t, n, c))
        .collect();

    // The distributions: latency and output tokens per model (merged into the dataset's),
    // input tokens of successful calls, time to first token.
    for ((provider, model), latency, output) in dists.models {
        if let Some(&k) = index.get(&model_key(&provider, &model)) {
            s.models[k].latency_hist = latency;
            s.models[k].output_hist = output;
        }
    }
    s.latency_hist = dists.latency;
    s.output_hist = dists.output;
    s.input_hist = dists.input;
    s.ttft_hist = dists.ttft;

    s.groups = streamed.groups;
    if let Some(rows) = streamed.duplicates {
        s.duplicates = rows;
    }
    s.sort();
    s.scan_ms = started.elapsed().as_millis() as u64;
    s.queries = sqls.len();
    s.queries_sql = sqls;
    Ok(s)
}
