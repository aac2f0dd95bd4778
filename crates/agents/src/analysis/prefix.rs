//! The prompt-prefix groups of a report (successful calls per provider, model and feature:
//! calls, cost, smallest prompt, cache reads, distinct 5-minute windows), counted from a
//! stream of the successful calls: what [`super::sql::prefix_groups`] returns, to the call
//! and the cent.

use std::collections::HashSet;

use arrow::array::{Array, RecordBatch};
use arrow::error::ArrowError;
use xxhash_rust::xxh3::Xxh3DefaultBuilder;

use super::exact::Exact;
use super::stream::{TextIds, at, floats, ints};
use super::{FastMap, PrefixGroup};

#[derive(Default)]
struct Group {
    calls: i64,
    cost: Exact,
    min_input: Option<i64>,
    cache_read: i64,
    windows: HashSet<i64, Xxh3DefaultBuilder>,
}

/// The prompt-prefix groups being counted.
#[derive(Default)]
pub struct Counts {
    features: TextIds,
    groups: FastMap<(usize, usize), Group>,
}

impl Counts {
    /// Count a batch of successful calls: columns feature, weight, cost, input tokens, cache
    /// read tokens, 5-minute window ([`super::sql::CACHE_WINDOW`]); `models` are the rows'
    /// (provider, model) ids.
    pub fn add_batch(&mut self, models: &[usize], batch: &RecordBatch) -> Result<(), ArrowError> {
        let features = self.features.of_rows(batch.column(0))?;
        let (weight, cost, input) = (ints(batch, 1)?, floats(batch, 2)?, ints(batch, 3)?);
        let (cache_read, window) = (ints(batch, 4)?, ints(batch, 5)?);
        // SQL's aggregates leave nulls out.
        for i in 0..batch.num_rows() {
            let g = self.groups.entry((models[i], features[i])).or_default();
            g.calls += at(&weight, i).unwrap_or(0);
            if !cost.is_null(i) {
                g.cost.add(cost.value(i));
            }
            if let Some(v) = at(&input, i) {
                g.min_input = Some(g.min_input.map_or(v, |m| m.min(v)));
            }
            g.cache_read += at(&cache_read, i).unwrap_or(0);
            if let Some(w) = at(&window, i) {
                g.windows.insert(w);
            }
        }
        Ok(())
    }

    /// The groups, by provider, model and feature; `models` names the model ids.
    pub fn finish(self, models: &[(String, String)]) -> Vec<PrefixGroup> {
        let Counts { features, groups } = self;
        let mut all: Vec<PrefixGroup> = groups
            .into_iter()
            .map(|((m, f), g)| PrefixGroup {
                provider: models[m].0.clone(),
                model: models[m].1.clone(),
                feature: features.names[f].clone(),
                ok_calls: g.calls.max(0) as u64,
                ok_spend: g.cost.value(),
                min_input: g.min_input.unwrap_or(0).max(0) as u64,
                cache_read: g.cache_read.max(0) as u64,
                cache_windows: g.windows.len() as u64,
            })
            .collect();
        all.sort_unstable_by(|a, b| {
            (&a.provider, &a.model, &a.feature).cmp(&(&b.provider, &b.model, &b.feature))
        });
        all
    }
}
