//! Gathering a dataset's aggregates: a dozen grouped queries over the `calls` CTE, run at
//! once by the columnar engine over the dataset's Parquet parts, read back into
//! [`WorkloadStats`]. No record is ever held in memory: each query returns one row per group
//! (a model, a feature, a day, a distinct latency in ms...).

use std::collections::HashMap;

use arrow::array::{Array, ArrayRef, AsArray, RecordBatch};
use arrow::datatypes::{DataType, Float64Type, Int64Type};
use tokio_util::sync::CancellationToken;

use super::sql::{self, Scope, quote};
use super::{Agg, DuplicateRow, Histogram, ModelStats, PrefixGroup, WorkloadStats};
use super::{SHORT_INPUT_TOKENS, SHORT_OUTPUT_TOKENS};
use crate::AgentError;
use apex_datasets::Engine;

/// The eight sums of an [`Agg`], in its field order. Calls are weights summed: an aggregated
/// usage bucket stands for `weight` calls.
fn agg_columns() -> String {
    "SUM(weight), SUM(cost_usd), SUM(input_tokens), SUM(output_tokens), SUM(cache_read_tokens), \
     SUM(cache_write_tokens), SUM(CASE WHEN status <> 'ok' THEN weight ELSE 0 END), \
     SUM(CASE WHEN status <> 'ok' THEN cost_usd ELSE 0 END)"
        .to_string()
}

/// [`agg_columns`] over the rows where `cond` holds.
fn agg_columns_if(cond: &str) -> String {
    let s = |e: &str| format!("SUM(CASE WHEN {cond} THEN {e} ELSE 0 END)");
    [
        s("weight"),
        s("cost_usd"),
        s("input_tokens"),
        s("output_tokens"),
        s("cache_read_tokens"),
        s("cache_write_tokens"),
        s("CASE WHEN status <> 'ok' THEN weight ELSE 0 END"),
        s("CASE WHEN status <> 'ok' THEN cost_usd ELSE 0 END"),
    ]
    .join(", ")
}

const RECORDS: usize = 0;
const MODELS: usize = 1;
const FEATURES: usize = 2;
const TENANTS: usize = 3;
const DAYS: usize = 4;
const LATENCY: usize = 5;
const OUTPUT: usize = 6;
const INPUT: usize = 7;
const TTFT: usize = 8;
const PREFIX: usize = 9;
const ERRORS: usize = 10;
const DUPLICATES: usize = 11;

/// The queries behind [`WorkloadStats`], in the order of the constants above.
pub fn queries(scope: Scope<'_>, with_duplicates: bool) -> Vec<String> {
    let dataset = scope.dataset;
    let cte = scope.cte();
    let per_call = sql::PER_CALL;
    let by = |key: &str| {
        format!(
            "{cte} SELECT {key}, {} FROM calls GROUP BY {key}",
            agg_columns()
        )
    };
    let short = sql::short_condition(SHORT_INPUT_TOKENS, SHORT_OUTPUT_TOKENS);
    let batchable = format!("status = 'ok' AND {}", sql::non_interactive_predicate());
    let mut q = vec![
        format!(
            "SELECT COUNT(*), MIN(timestamp), MAX(timestamp) FROM workload_records WHERE dataset = {}",
            quote(dataset)
        ),
        format!(
            "{cte} SELECT provider, model, {}, SUM(CASE WHEN status = 'ok' THEN weight ELSE 0 END), \
             SUM(CASE WHEN status = 'ok' AND prompt_hash IS NOT NULL AND prompt_hash <> '' THEN 1 ELSE 0 END), \
             {}, {} FROM calls GROUP BY provider, model",
            agg_columns(),
            agg_columns_if(&short),
            agg_columns_if(&batchable)
        ),
        by("feature"),
        by("tenant"),
        by("day"),
        format!(
            "{cte} SELECT provider, model, FLOOR(latency_ms), COUNT(*), SUM(cost_usd) FROM calls \
             WHERE {per_call} GROUP BY provider, model, FLOOR(latency_ms)"
        ),
        format!(
            "{cte} SELECT provider, model, output_tokens, COUNT(*), SUM(cost_usd) FROM calls \
             WHERE status = 'ok' AND {per_call} GROUP BY provider, model, output_tokens"
        ),
        format!(
            "{cte} SELECT input_tokens, COUNT(*), SUM(cost_usd) FROM calls WHERE status = 'ok' \
             AND {per_call} GROUP BY input_tokens"
        ),
        format!(
            "{cte} SELECT FLOOR(ttft_ms), COUNT(*) FROM calls WHERE ttft_ms IS NOT NULL \
             AND {per_call} GROUP BY FLOOR(ttft_ms)"
        ),
        sql::prefix_groups(scope),
        format!(
            "{cte} SELECT provider, model, COALESCE(error_type, 'unknown'), SUM(weight), SUM(cost_usd), \
             SUM(CASE WHEN cost_usd > 0 THEN weight ELSE 0 END), SUM(CASE WHEN cost_usd > 0 THEN cost_usd ELSE 0 END) \
             FROM calls WHERE status <> 'ok' GROUP BY provider, model, COALESCE(error_type, 'unknown')"
        ),
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

    fn text(&self, col: usize) -> Result<Vec<String>, AgentError> {
        let a = self.cast(col, &DataType::Utf8)?;
        let a = a.as_string::<i32>();
        Ok((0..self.len)
            .map(|i| {
                if a.is_null(i) {
                    String::new()
                } else {
                    a.value(i).to_string()
                }
            })
            .collect())
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

    /// [`Agg`]s from eight columns starting at `from`.
    fn aggs(&self, from: usize) -> Result<Vec<Agg>, AgentError> {
        let (calls, spend, input, output) = (
            self.count(from)?,
            self.float(from + 1)?,
            self.count(from + 2)?,
            self.count(from + 3)?,
        );
        let (cache_read, cache_write, failed, failed_cost) = (
            self.count(from + 4)?,
            self.count(from + 5)?,
            self.count(from + 6)?,
            self.float(from + 7)?,
        );
        Ok((0..self.len)
            .map(|i| Agg {
                calls: calls[i],
                spend: spend[i],
                input: input[i],
                output: output[i],
                cache_read: cache_read[i],
                cache_write: cache_write[i],
                failed: failed[i],
                failed_cost: failed_cost[i],
            })
            .collect())
    }
}

fn keyed(rows: &Rows) -> Result<Vec<(String, Agg)>, AgentError> {
    Ok(rows.text(0)?.into_iter().zip(rows.aggs(1)?).collect())
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

pub fn collect(
    engine: &Engine,
    dataset: &str,
    with_duplicates: bool,
    cancel: &CancellationToken,
) -> Result<WorkloadStats, AgentError> {
    let started = std::time::Instant::now();
    let run = |sqls: &[String]| {
        let results = engine
            .collect_all(sqls, Some(cancel))
            .map_err(|e| match e {
                apex_datasets::DatasetError::Cancelled => AgentError::Cancelled,
                other => other.into(),
            })?;
        if cancel.is_cancelled() {
            return Err(AgentError::Cancelled);
        }
        Ok(results)
    };
    let (rollup_records, rollup_spend) = rollups(dataset, &run)?;
    let sqls = queries(
        Scope {
            dataset,
            rollups: rollup_records > 0,
        },
        with_duplicates,
    );
    let results = run(&sqls)?;
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
    let rec = &r[RECORDS];
    if rec.len > 0 {
        s.records = rec.count(0)?[0];
        s.first = rec.time(1)?.remove(0);
        s.last = rec.time(2)?.remove(0);
    }

    // Models: the whole aggregate, successful calls, and the short and batchable subsets.
    let m = &r[MODELS];
    let (providers, models) = (m.text(0)?, m.text(1)?);
    let (all, ok, ok_hash) = (m.aggs(2)?, m.count(10)?, m.count(11)?);
    let (short, batchable) = (m.aggs(12)?, m.aggs(20)?);
    let mut index: HashMap<String, usize> = HashMap::new();
    for i in 0..m.len {
        index.insert(model_key(&providers[i], &models[i]), s.models.len());
        s.total.add_agg(&all[i]);
        s.ok_calls += ok[i];
        s.ok_calls_with_hash += ok_hash[i];
        s.models.push(ModelStats {
            provider: providers[i].clone(),
            model: models[i].clone(),
            all: all[i].clone(),
            short_ok: short[i].clone(),
            batchable_ok: batchable[i].clone(),
            ..Default::default()
        });
    }
    s.features = keyed(&r[FEATURES])?;
    s.tenants = keyed(&r[TENANTS])?;
    s.days = keyed(&r[DAYS])?;

    // Histograms per model, merged into the dataset's.
    let mut per_model = |rows: &Rows,
                         pick: fn(&mut ModelStats) -> &mut Histogram,
                         total: &mut Histogram|
     -> Result<(), AgentError> {
        let (p, mo, v, n, c) = (
            rows.text(0)?,
            rows.text(1)?,
            rows.int(2)?,
            rows.count(3)?,
            rows.float(4)?,
        );
        for i in 0..rows.len {
            if let Some(&k) = index.get(&model_key(&p[i], &mo[i])) {
                pick(&mut s.models[k]).insert(v[i], (n[i], c[i]));
            }
            let e = total.entry(v[i]).or_default();
            e.0 += n[i];
            e.1 += c[i];
        }
        Ok(())
    };
    let (mut latency, mut output) = (Histogram::default(), Histogram::default());
    per_model(&r[LATENCY], |m| &mut m.latency_hist, &mut latency)?;
    per_model(&r[OUTPUT], |m| &mut m.output_hist, &mut output)?;
    s.latency_hist = latency;
    s.output_hist = output;
    let inp = &r[INPUT];
    let (v, n, c) = (inp.int(0)?, inp.count(1)?, inp.float(2)?);
    s.input_hist = (0..inp.len).map(|i| (v[i], (n[i], c[i]))).collect();
    let tt = &r[TTFT];
    let (v, n) = (tt.int(0)?, tt.count(1)?);
    s.ttft_hist = (0..tt.len).map(|i| (v[i], (n[i], 0.0))).collect();

    let g = &r[PREFIX];
    let (gp, gm, gf) = (g.text(0)?, g.text(1)?, g.text(2)?);
    let (calls, spend, min_input, cache_read, windows) = (
        g.count(3)?,
        g.float(4)?,
        g.count(5)?,
        g.count(6)?,
        g.count(7)?,
    );
    s.groups = (0..g.len)
        .map(|i| PrefixGroup {
            provider: gp[i].clone(),
            model: gm[i].clone(),
            feature: gf[i].clone(),
            ok_calls: calls[i],
            ok_spend: spend[i],
            min_input: min_input[i],
            cache_read: cache_read[i],
            cache_windows: windows[i],
        })
        .collect();

    let e = &r[ERRORS];
    let (ep, em, et) = (e.text(0)?, e.text(1)?, e.text(2)?);
    let (n, cost, billed_n, billed_cost) = (e.count(3)?, e.float(4)?, e.count(5)?, e.float(6)?);
    let mut by_type: HashMap<String, (u64, f64)> = HashMap::new();
    for i in 0..e.len {
        let t = by_type.entry(et[i].clone()).or_default();
        t.0 += n[i];
        t.1 += cost[i];
        if billed_n[i] > 0 {
            s.billed_failures.push((
                ep[i].clone(),
                em[i].clone(),
                et[i].clone(),
                billed_n[i],
                billed_cost[i],
            ));
        }
    }
    s.errors_by_type = by_type.into_iter().map(|(k, (n, c))| (k, n, c)).collect();

    if with_duplicates {
        let d = &r[DUPLICATES];
        let (dp, dm) = (d.text(0)?, d.text(1)?);
        let (prompts, calls, repeats, cost) = (d.count(2)?, d.count(3)?, d.count(4)?, d.float(5)?);
        s.duplicates = (0..d.len)
            .map(|i| DuplicateRow {
                provider: dp[i].clone(),
                model: dm[i].clone(),
                repeated_prompts: prompts[i],
                calls: calls[i],
                repeats: repeats[i],
                repeat_cost_usd: cost[i],
            })
            .collect();
    }
    s.sort();
    s.scan_ms = started.elapsed().as_millis() as u64;
    s.queries = results.len();
    s.queries_sql = sqls;
    Ok(s)
}
