//! The figures counted from one stream of a dataset's calls instead of by the engine's
//! grouped queries: the distributions ([`super::distributions`]), the prompt-prefix groups
//! ([`super::prefix`]) and the repeated prompts ([`super::duplicates`]), and what their
//! counts share (numbering the calls' providers, models and features; the engine's errors
//! in the agents' words).

use std::path::Path;

use arrow::array::{Array, ArrayRef, AsArray, BooleanArray};
use arrow::datatypes::DataType;
use arrow::error::ArrowError;
use tokio_util::sync::CancellationToken;

use super::distributions::Distributions;
use super::duplicates::RepeatedPrompts;
use super::sql::Scope;
use super::{DuplicateRow, FastMap, PrefixGroup};
use crate::AgentError;
use apex_datasets::{DatasetError, Engine};

/// A provider and model as the calls name them (either may be null).
type Pair = (Option<String>, Option<String>);

/// The distinct (provider, model) pairs of a stream of calls, numbered in order of
/// appearance.
#[derive(Debug, Default)]
pub struct ModelIds {
    ids: FastMap<Pair, usize>,
    /// Each id's provider and model (null as empty, as the report reads them).
    pub names: Vec<(String, String)>,
}

impl ModelIds {
    /// The id of each row's pair, given the batch's `provider` and `model` columns (any
    /// string type). A batch holds a few distinct pairs: they are compared in turn, which
    /// costs less than hashing two strings per call.
    pub fn of_rows(
        &mut self,
        provider: &ArrayRef,
        model: &ArrayRef,
    ) -> Result<Vec<usize>, ArrowError> {
        let (provider, model) = (
            arrow::compute::cast(provider, &DataType::Utf8)?,
            arrow::compute::cast(model, &DataType::Utf8)?,
        );
        let (provider, model) = (provider.as_string::<i32>(), model.as_string::<i32>());
        let mut seen: Vec<(Option<&str>, Option<&str>, usize)> = Vec::new();
        Ok((0..provider.len())
            .map(|i| {
                let p = (!provider.is_null(i)).then(|| provider.value(i));
                let m = (!model.is_null(i)).then(|| model.value(i));
                match seen.iter().find(|s| s.0 == p && s.1 == m) {
                    Some(s) => s.2,
                    None => {
                        let id = self.id(p, m);
                        seen.push((p, m, id));
                        id
                    }
                }
            })
            .collect())
    }

    fn id(&mut self, provider: Option<&str>, model: Option<&str>) -> usize {
        let key = (provider.map(str::to_string), model.map(str::to_string));
        if let Some(&id) = self.ids.get(&key) {
            return id;
        }
        let id = self.names.len();
        self.names.push((
            provider.unwrap_or_default().to_string(),
            model.unwrap_or_default().to_string(),
        ));
        self.ids.insert(key, id);
        id
    }
}

/// An engine error as the agents report it: a cancelled query is a cancelled run.
pub fn engine_error(e: DatasetError) -> AgentError {
    match e {
        DatasetError::Cancelled => AgentError::Cancelled,
        other => other.into(),
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
    /// compared in turn; past [`SEEN`] distinct ones, the rest are hashed.
    pub fn of_rows(&mut self, column: &ArrayRef) -> Result<Vec<usize>, ArrowError> {
        let column = arrow::compute::cast(column, &DataType::Utf8)?;
        let column = column.as_string::<i32>();
        let mut seen: Vec<(Option<&str>, usize)> = Vec::new();
        let mut many: FastMap<Option<&str>, usize> = FastMap::default();
        Ok((0..column.len())
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
            .collect())
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

/// Every call of `scope` with the columns of the figures counted from a stream, by index:
/// 0 provider, 1 model, 2 feature, 3 latency (ms, floored), 4 output tokens, 5 input tokens,
/// 6 time to first token (ms, floored), 7 succeeded, 8 cost, 9 aggregated, 10 prompt hash,
/// 11 has a prompt hash, 12 weight, 13 cache read tokens, 14 the 5-minute window.
pub fn all_calls(scope: Scope<'_>) -> String {
    format!(
        "{} SELECT provider, model, feature, FLOOR(latency_ms), output_tokens, input_tokens, \
         FLOOR(ttft_ms), status = 'ok', cost_usd, aggregated, prompt_hash, \
         prompt_hash IS NOT NULL AND prompt_hash <> '', weight, cache_read_tokens, {} FROM calls",
        scope.cte(),
        super::sql::CACHE_WINDOW
    )
}

/// The figures counted from the stream of a dataset's calls.
#[derive(Debug, Default)]
pub struct Streamed {
    pub distributions: Distributions,
    pub groups: Vec<PrefixGroup>,
    /// When asked for.
    pub duplicates: Option<Vec<DuplicateRow>>,
}

/// Read `scope`'s calls once ([`all_calls`]) and count from them the distributions (single
/// calls), the prompt-prefix groups (successful calls) and, given where they may spill and
/// how much they may hold first, the repeated prompts (successful calls with a prompt hash):
/// what their queries (`collect::queries`) return. One scan decodes the shared columns once.
pub fn count(
    engine: &Engine,
    scope: Scope<'_>,
    duplicates: Option<(&Path, usize)>,
    cancel: Option<&CancellationToken>,
) -> Result<Streamed, AgentError> {
    let mut dists = super::distributions::Counts::default();
    let mut groups = super::prefix::Counts::default();
    let mut repeated = duplicates.map(|(root, budget)| RepeatedPrompts::new(root, budget));
    engine
        .scan(&all_calls(scope), cancel, |batch| {
            let query = |e: ArrowError| DatasetError::Query(e.to_string());
            let flag = |i: usize| {
                arrow::compute::cast(batch.column(i), &DataType::Boolean)
                    .map(|a| a.as_boolean().clone())
                    .map_err(query)
            };
            let (ok, aggregated) = (flag(7)?, flag(9)?);
            // nulls are false, as in the queries' WHERE
            let single = arrow::compute::not(&aggregated).map_err(query)?;
            let part = |columns: &[usize], rows: &BooleanArray| {
                let projected = batch.project(columns).map_err(query)?;
                arrow::compute::filter_record_batch(&projected, rows).map_err(query)
            };
            dists.add_batch(&part(&[0, 1, 3, 4, 5, 6, 7, 8], &single)?)?;
            groups.add_batch(&part(&[0, 1, 2, 12, 8, 5, 13, 14], &ok)?)?;
            if let Some(r) = &mut repeated {
                let hashed = arrow::compute::and(&ok, &flag(11)?).map_err(query)?;
                r.add_batch(&part(&[0, 1, 10, 8], &hashed)?)?;
            }
            Ok(())
        })
        .map_err(engine_error)?;
    Ok(Streamed {
        distributions: dists.finish(),
        groups: groups.finish(),
        duplicates: repeated.map(|r| r.finish(cancel)).transpose()?,
    })
}
