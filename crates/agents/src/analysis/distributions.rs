//! The distributions of a report (latency and output tokens per model, input tokens of
//! successful calls, time to first token), counted from one stream of the single calls.
//!
//! Their SQL is one query of four grouping sets whose keys are near-unique per call (a
//! latency in ms, a token count): DataFusion repeats each call once per set and hashes every
//! copy with its provider and model strings (1.25 s of a 10M-record report's 4.3 s, BENCHMARKS.md).
//! The values are small integers, so here each set is a dense array per model, indexed by
//! value (a map past [`DENSE`]); the calls are read once. The histograms are what the SQL's
//! groups would give, to the call and the cent (`tests.rs` checks them against DuckDB
//! running that SQL, through the percentiles a report cites).

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{DataType, Float64Type, Int64Type};
use tokio_util::sync::CancellationToken;

use super::sql::{PER_CALL, Scope};
use super::{FastMap, Histogram};
use crate::AgentError;
use apex_datasets::Engine;

/// Values below this are counted in arrays (a latency up to ~2 minutes, up to 131k tokens);
/// larger or negative ones in a map.
pub const DENSE: usize = 1 << 17;

/// The single calls' provider, model, latency and output tokens, input tokens, time to
/// first token (ms, floored), whether they succeeded, and their cost.
pub fn single_calls(scope: Scope<'_>) -> String {
    format!(
        "{} SELECT provider, model, FLOOR(latency_ms), output_tokens, input_tokens, \
         FLOOR(ttft_ms), status = 'ok', cost_usd FROM calls WHERE {PER_CALL}",
        scope.cte()
    )
}

/// The histograms of one dataset.
#[derive(Debug, Default)]
pub struct Distributions {
    /// Per (provider, model): latency of every single call, output tokens of successful ones.
    pub models: Vec<((String, String), Histogram, Histogram)>,
    pub latency: Histogram,
    pub output: Histogram,
    /// Input tokens of successful single calls.
    pub input: Histogram,
    /// Time to first token (counts only; calls without one are left out).
    pub ttft: Histogram,
}

/// Count the distributions of `scope`'s single calls.
pub fn collect(
    engine: &Engine,
    scope: Scope<'_>,
    cancel: Option<&CancellationToken>,
) -> Result<Distributions, AgentError> {
    let mut counts = Counts::default();
    engine.scan(&single_calls(scope), cancel, |batch| {
        counts
            .add_batch(batch)
            .map_err(|e| apex_datasets::DatasetError::Query(e.to_string()))
    })?;
    Ok(counts.finish())
}

/// A histogram being counted: values in `0..DENSE` by index, others in a map.
struct Dense {
    slots: Vec<(u64, f64)>,
    other: Histogram,
}

impl Default for Dense {
    fn default() -> Self {
        Dense {
            slots: vec![(0, 0.0); DENSE],
            other: Histogram::default(),
        }
    }
}

impl Dense {
    #[inline]
    fn add(&mut self, value: i64, cost: f64) {
        let slot = match usize::try_from(value) {
            Ok(i) if i < DENSE => &mut self.slots[i],
            _ => self.other.entry(value).or_default(),
        };
        slot.0 += 1;
        slot.1 += cost;
    }

    fn into_histogram(self) -> Histogram {
        let mut h = self.other;
        for (v, slot) in self.slots.into_iter().enumerate() {
            if slot.0 > 0 {
                h.insert(v as i64, slot);
            }
        }
        h
    }
}

/// A provider and model as the calls name them (either may be null).
type Pair = (Option<String>, Option<String>);

#[derive(Default)]
struct Counts {
    /// Per (provider, model) id: latency, output tokens of successful calls.
    models: Vec<(Pair, Dense, Dense)>,
    ids: FastMap<Pair, usize>,
    input: Option<Box<Dense>>,
    ttft: Option<Box<Dense>>,
}

impl Counts {
    fn add_batch(&mut self, batch: &RecordBatch) -> Result<(), arrow::error::ArrowError> {
        let cast = |i: usize, to: &DataType| arrow::compute::cast(batch.column(i), to);
        let (provider, model) = (cast(0, &DataType::Utf8)?, cast(1, &DataType::Utf8)?);
        let (provider, model) = (provider.as_string::<i32>(), model.as_string::<i32>());
        let latency = cast(2, &DataType::Int64)?;
        let latency = latency.as_primitive::<Int64Type>();
        let (output, input) = (cast(3, &DataType::Int64)?, cast(4, &DataType::Int64)?);
        let (output, input) = (
            output.as_primitive::<Int64Type>(),
            input.as_primitive::<Int64Type>(),
        );
        let ttft = cast(5, &DataType::Int64)?;
        let ttft = ttft.as_primitive::<Int64Type>();
        let ok = cast(6, &DataType::Boolean)?;
        let ok = ok.as_boolean();
        let cost = cast(7, &DataType::Float64)?;
        let cost = cost.as_primitive::<Float64Type>();
        let input_hist = self.input.get_or_insert_with(Box::default);
        let ttft_hist = self.ttft.get_or_insert_with(Box::default);
        // The few distinct pairs of this batch, borrowed and compared in turn.
        let mut seen: Vec<(Option<&str>, Option<&str>, usize)> = Vec::new();
        let int = |a: &arrow::array::Int64Array, i: usize| (!a.is_null(i)).then(|| a.value(i));
        for i in 0..batch.num_rows() {
            let p = (!provider.is_null(i)).then(|| provider.value(i));
            let m = (!model.is_null(i)).then(|| model.value(i));
            let id = match seen.iter().find(|s| s.0 == p && s.1 == m) {
                Some(s) => s.2,
                None => {
                    let key = (p.map(str::to_string), m.map(str::to_string));
                    let id = match self.ids.get(&key) {
                        Some(&id) => id,
                        None => {
                            self.ids.insert(key.clone(), self.models.len());
                            self.models.push((key, Dense::default(), Dense::default()));
                            self.models.len() - 1
                        }
                    };
                    seen.push((p, m, id));
                    id
                }
            };
            let c = if cost.is_null(i) { 0.0 } else { cost.value(i) };
            let succeeded = !ok.is_null(i) && ok.value(i);
            let (_, latency_hist, output_hist) = &mut self.models[id];
            latency_hist.add(int(latency, i).unwrap_or(0), c);
            if succeeded {
                output_hist.add(int(output, i).unwrap_or(0), c);
                input_hist.add(int(input, i).unwrap_or(0), c);
            }
            if let Some(t) = int(ttft, i) {
                ttft_hist.add(t, 0.0);
            }
        }
        Ok(())
    }

    fn finish(self) -> Distributions {
        let mut d = Distributions::default();
        let merge = |into: &mut Histogram, from: &Histogram| {
            for (v, (n, c)) in from {
                let e = into.entry(*v).or_default();
                e.0 += n;
                e.1 += c;
            }
        };
        for ((p, m), latency, output) in self.models {
            let (latency, output) = (latency.into_histogram(), output.into_histogram());
            merge(&mut d.latency, &latency);
            merge(&mut d.output, &output);
            d.models.push((
                (p.unwrap_or_default(), m.unwrap_or_default()),
                latency,
                output,
            ));
        }
        d.input = self.input.map(|h| h.into_histogram()).unwrap_or_default();
        d.ttft = self.ttft.map(|h| h.into_histogram()).unwrap_or_default();
        d
    }
}
