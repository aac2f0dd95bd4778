//! What the figures counted from streams of calls share ([`super::distributions`],
//! [`super::duplicates`]): numbering the calls' (provider, model) pairs, and the engine's
//! errors in the agents' words.

use arrow::array::{Array, ArrayRef, AsArray};
use arrow::datatypes::DataType;
use arrow::error::ArrowError;

use super::FastMap;
use crate::AgentError;
use apex_datasets::DatasetError;

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
