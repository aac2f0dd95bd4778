//! The figures counted from one stream of a dataset's calls instead of by the engine's
//! grouped queries: the breakdowns ([`super::breakdowns`]), the distributions
//! ([`super::distributions`]), the prompt-prefix groups
//! ([`super::prefix`]) and the repeated prompts ([`super::duplicates`]), and what their
//! counts share (numbering the calls' providers, models and features; the engine's errors
//! in the agents' words).

use std::path::Path;
use std::sync::Arc;
use std::sync::mpsc::sync_channel;

use arrow::array::{Array, ArrayRef, AsArray, BooleanArray, Float64Array, Int64Array, RecordBatch};
use arrow::datatypes::{DataType, Float64Type, Int64Type};
use arrow::error::ArrowError;
use tokio_util::sync::CancellationToken;

use super::distributions::Distributions;
use super::duplicates::RepeatedPrompts;
use super::sql::Scope;
use super::{DuplicateRow, FastMap, PrefixGroup};
use crate::AgentError;
use apex_datasets::{DatasetError, Engine};

/// The distinct (provider, model) pairs of a stream of calls, numbered in order of
/// appearance.
#[derive(Debug, Default)]
pub struct ModelIds {
    providers: TextIds,
    models: TextIds,
    pairs: FastMap<(usize, usize), usize>,
    /// Each id's provider and model (null as empty, as the report reads them).
    pub names: Vec<(String, String)>,
}

impl ModelIds {
    /// The id of each row's pair, given the batch's `provider` and `model` columns (any
    /// string type).
    pub fn of_rows(
        &mut self,
        provider: &ArrayRef,
        model: &ArrayRef,
    ) -> Result<Vec<usize>, ArrowError> {
        let providers = self.providers.of_rows(provider)?;
        let models = self.models.of_rows(model)?;
        let mut seen: Vec<(usize, usize, usize)> = Vec::new();
        Ok(providers
            .into_iter()
            .zip(models)
            .map(|(p, m)| match seen.iter().find(|s| s.0 == p && s.1 == m) {
                Some(s) => s.2,
                None => {
                    let id = match self.pairs.get(&(p, m)) {
                        Some(&id) => id,
                        None => {
                            let id = self.names.len();
                            self.names.push((
                                self.providers.names[p].clone(),
                                self.models.names[m].clone(),
                            ));
                            self.pairs.insert((p, m), id);
                            id
                        }
                    };
                    if seen.len() < SEEN {
                        seen.push((p, m, id));
                    }
                    id
                }
            })
            .collect())
    }
}

/// The distinct values of one text column of a stream of calls, numbered in order of
/// appearance.
#[derive(Debug, Default)]
pub struct TextIds {
    ids: FastMap<Option<String>, usize>,
    /// Each id's value (null as empty, as the report reads them).
    pub names: Vec<String>,
}

impl TextIds {
    /// The id of each row's value of `column` (any string type). A batch's first values are
    /// compared in turn; past [`SEEN`] distinct ones, the rest are hashed. Views are
    /// compared as they are (16 bytes): equal views are equal strings, and a string met
    /// under another view is looked up by value.
    pub fn of_rows(&mut self, column: &ArrayRef) -> Result<Vec<usize>, ArrowError> {
        if let Some(views) = column.as_string_view_opt() {
            let raw = views.views();
            return Ok(self.ids_by(
                views.len(),
                |i| (!views.is_null(i)).then(|| raw[i]),
                |i| views.value(i),
            ));
        }
        let column = arrow::compute::cast(column, &DataType::Utf8)?;
        Ok(self.ids_by_value(column.as_string::<i32>()))
    }

    /// Ids by `key(i)`: `None` for null, else 16 bytes that stand for the value `value(i)`
    /// (read only for a key not seen before in the batch). A key is first looked for in a
    /// small table indexed by its hash (one compare per row; a scan of the batch's first
    /// distinct keys was the largest cost of counting a report's breakdowns), then in the
    /// batch's map.
    fn ids_by<'a>(
        &mut self,
        len: usize,
        key: impl Fn(usize) -> Option<u128>,
        value: impl Fn(usize) -> &'a str,
    ) -> Vec<usize> {
        let mut recent: [Option<(u128, usize)>; RECENT] = [None; RECENT];
        let mut many: FastMap<u128, usize> = FastMap::default();
        let mut null = None;
        (0..len)
            .map(|i| {
                let Some(key) = key(i) else {
                    return *null.get_or_insert_with(|| self.id(None));
                };
                let folded = (key as u64) ^ ((key >> 64) as u64);
                let slot =
                    (folded.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> (64 - RECENT_BITS)) as usize;
                if let Some((k, id)) = recent[slot]
                    && k == key
                {
                    return id;
                }
                let id = match many.get(&key) {
                    Some(&id) => id,
                    None => {
                        let id = self.id(Some(value(i)));
                        many.insert(key, id);
                        id
                    }
                };
                recent[slot] = Some((key, id));
                id
            })
            .collect()
    }

    /// Ids of plain strings, compared by value.
    fn ids_by_value(&mut self, column: &arrow::array::StringArray) -> Vec<usize> {
        let mut seen: Vec<(Option<&str>, usize)> = Vec::new();
        let mut many: FastMap<Option<&str>, usize> = FastMap::default();
        (0..column.len())
            .map(|i| {
                let v = (!column.is_null(i)).then(|| column.value(i));
                if let Some(s) = seen.iter().find(|s| s.0 == v) {
                    return s.1;
                }
                if let Some(&id) = many.get(&v) {
                    return id;
                }
                let id = self.id(v);
                if seen.len() < SEEN {
                    seen.push((v, id));
                } else {
                    many.insert(v, id);
                }
                id
            })
            .collect()
    }

    fn id(&mut self, value: Option<&str>) -> usize {
        let key = value.map(str::to_string);
        if let Some(&id) = self.ids.get(&key) {
            return id;
        }
        let id = self.names.len();
        self.names.push(value.unwrap_or_default().to_string());
        self.ids.insert(key, id);
        id
    }
}

/// Distinct values of a batch compared in turn before they are hashed.
const SEEN: usize = 16;

/// The table of keys met last in [`TextIds::ids_by`]: `RECENT` entries.
const RECENT_BITS: u32 = 6;
const RECENT: usize = 1 << RECENT_BITS;

/// Every call of `scope` with the columns of the figures counted from a stream, by index:
/// 0 provider, 1 model, 2 feature, 3 latency (ms, floored), 4 output tokens, 5 input tokens,
/// 6 time to first token (ms, floored), 7 succeeded, 8 cost, 9 aggregated, 10 prompt hash,
/// 11 has a prompt hash, 12 weight, 13 cache read tokens, 14 the 5-minute window, 15
/// workload type, 16 tenant, 17 day, 18 error kind, 19 short, 20 billed, 21 cache write
/// tokens.
pub fn all_calls(scope: Scope<'_>) -> String {
    format!(
        "{} SELECT provider, model, feature, FLOOR(latency_ms), output_tokens, input_tokens, \
         FLOOR(ttft_ms), status = 'ok', cost_usd, aggregated, prompt_hash, \
         prompt_hash IS NOT NULL AND prompt_hash <> '', weight, cache_read_tokens, {}, \
         workload_type, tenant, day, COALESCE(error_type, 'unknown'), {}, cost_usd > 0, \
         cache_write_tokens FROM calls",
        scope.cte(),
        super::sql::CACHE_WINDOW,
        super::sql::short_size(super::SHORT_INPUT_TOKENS, super::SHORT_OUTPUT_TOKENS),
    )
}

/// The figures counted from the stream of a dataset's calls.
#[derive(Debug, Default)]
pub struct Streamed {
    pub breakdowns: Vec<super::breakdowns::Group>,
    pub distributions: Distributions,
    pub groups: Vec<PrefixGroup>,
    /// When asked for.
    pub duplicates: Option<Vec<DuplicateRow>>,
}

/// Read `scope`'s calls once ([`all_calls`]) and count from them the breakdowns (every
/// call), the distributions (single calls), the prompt-prefix groups (successful calls) and,
/// given where they may spill and how much they may hold first, the repeated prompts
/// (successful calls with a prompt hash): what their queries (`collect::queries`) return.
/// One scan decodes the shared columns once.
///
/// The counting is the scan's serial stage (the engine decodes on every core): the
/// breakdowns and distributions are counted on the scan's thread, the prefix groups and
/// repeated prompts on a second one, each from every batch in order (so the figures do not
/// depend on the split). On one thread the counting was about half the CPU of a 10M-call
/// report and its wall time.
pub fn count(
    engine: &Engine,
    scope: Scope<'_>,
    duplicates: Option<(&Path, usize)>,
    cancel: Option<&CancellationToken>,
) -> Result<Streamed, AgentError> {
    // A stream over the engine's memory (its rollup join, past a few tens of millions of
    // calls) is counted again from the start with the engine's joins spilling to disk.
    engine.retry_spilling(
        || count_once(engine, scope, duplicates, cancel),
        |e| matches!(e, AgentError::Dataset(DatasetError::OverBudget(_))),
    )
}

fn count_once(
    engine: &Engine,
    scope: Scope<'_>,
    duplicates: Option<(&Path, usize)>,
    cancel: Option<&CancellationToken>,
) -> Result<Streamed, AgentError> {
    let mut models = ModelIds::default();
    let mut breakdowns = super::breakdowns::Counts::default();
    let mut dists = super::distributions::Counts::default();
    std::thread::scope(|s| {
        let (tx, rx) = sync_channel::<(Arc<Vec<usize>>, RecordBatch)>(4);
        let second = std::thread::Builder::new()
            .name("apex-report".into())
            .spawn_scoped(s, move || {
                let mut groups = super::prefix::Counts::default();
                let mut repeated =
                    duplicates.map(|(root, budget)| RepeatedPrompts::new(root, budget));
                for (ids, batch) in rx {
                    let ok = flags(&batch, 7).map_err(query)?;
                    let (picked, rows) = part(&batch, &ids, &[2, 12, 8, 5, 13, 14], &ok)?;
                    groups.add_batch(&picked, &rows).map_err(query)?;
                    if let Some(r) = &mut repeated {
                        let hashed = arrow::compute::and(&ok, &flags(&batch, 11).map_err(query)?)
                            .map_err(query)?;
                        let (picked, rows) = part(&batch, &ids, &[10, 8], &hashed)?;
                        r.add_batch(&picked, &rows)?;
                    }
                }
                Ok::<_, DatasetError>((groups, repeated))
            })
            .map_err(|e| AgentError::Io(format!("internal: cannot start a report thread: {e}")))?;
        let scanned = engine.scan(&all_calls(scope), cancel, |batch| {
            // each count gets the columns and rows it reads, and the rows' (provider, model) ids
            let ids = Arc::new(
                models
                    .of_rows(batch.column(0), batch.column(1))
                    .map_err(query)?,
            );
            if tx.send((Arc::clone(&ids), batch.clone())).is_err() {
                // The second thread stopped: its error is the one to report.
                return Err(DatasetError::Cancelled);
            }
            let aggregated = flags(batch, 9).map_err(query)?;
            // nulls are false, as in the queries' WHERE
            let single = arrow::compute::not(&aggregated).map_err(query)?;
            let every = &[15, 2, 16, 17, 18, 7, 19, 11, 20, 12, 8, 5, 4, 13, 21];
            let rows = batch.project(every).map_err(query)?;
            breakdowns.add_batch(&ids, &rows).map_err(query)?;
            let (picked, rows) = part(batch, &ids, &[3, 4, 5, 6, 7, 8], &single)?;
            dists.add_batch(&picked, &rows).map_err(query)
        });
        drop(tx);
        let counted = second
            .join()
            .map_err(|_| AgentError::Io("internal: the report's second thread panicked".into()))?;
        let (groups, repeated) = counted.map_err(engine_error)?;
        scanned.map_err(engine_error)?;
        let names = &models.names;
        Ok(Streamed {
            breakdowns: breakdowns.finish(names),
            distributions: dists.finish(names),
            groups: groups.finish(names),
            duplicates: repeated.map(|r| r.finish(names, cancel)).transpose()?,
        })
    })
}

/// The `columns` of the rows of `batch` where `rows` is true, and those rows' ids.
fn part(
    batch: &RecordBatch,
    ids: &[usize],
    columns: &[usize],
    rows: &BooleanArray,
) -> Result<(Vec<usize>, RecordBatch), DatasetError> {
    let projected = batch.project(columns).map_err(query)?;
    let picked: Vec<usize> = ids
        .iter()
        .zip(rows.iter())
        .filter(|(_, r)| *r == Some(true))
        .map(|(id, _)| *id)
        .collect();
    let filtered = arrow::compute::filter_record_batch(&projected, rows).map_err(query)?;
    Ok((picked, filtered))
}

/// An Arrow error of the counts, as the engine's.
fn query(e: ArrowError) -> DatasetError {
    DatasetError::Query(e.to_string())
}

/// An engine error as the agents report it: a cancelled query is a cancelled run.
pub fn engine_error(e: DatasetError) -> AgentError {
    match e {
        DatasetError::Cancelled => AgentError::Cancelled,
        other => other.into(),
    }
}

/// Column `i` of `batch` as integers (cast when stored otherwise).
pub fn ints(batch: &RecordBatch, i: usize) -> Result<Int64Array, ArrowError> {
    Ok(arrow::compute::cast(batch.column(i), &DataType::Int64)?
        .as_primitive::<Int64Type>()
        .clone())
}

/// Column `i` of `batch` as floats (cast when stored otherwise).
pub fn floats(batch: &RecordBatch, i: usize) -> Result<Float64Array, ArrowError> {
    Ok(arrow::compute::cast(batch.column(i), &DataType::Float64)?
        .as_primitive::<Float64Type>()
        .clone())
}

/// Column `i` of `batch` as booleans (cast when stored otherwise).
pub fn flags(batch: &RecordBatch, i: usize) -> Result<BooleanArray, ArrowError> {
    Ok(arrow::compute::cast(batch.column(i), &DataType::Boolean)?
        .as_boolean()
        .clone())
}

/// Row `i` of `a`, `None` where null.
pub fn at(a: &Int64Array, i: usize) -> Option<i64> {
    (!a.is_null(i)).then(|| a.value(i))
}
