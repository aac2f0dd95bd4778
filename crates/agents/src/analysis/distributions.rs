//! The distributions of a report (latency and output tokens per model, input tokens of
//! successful calls, time to first token), counted from the stream of the single calls
//! ([`super::stream`]).
//!
//! Their SQL is one query of four grouping sets whose keys are near-unique per call (a
//! latency in ms, a token count): DataFusion repeats each call once per set and hashes every
//! copy with its provider and model strings (1.25 s of a 10M-record report's 4.3 s, BENCHMARKS.md).
//! The values are small integers, so here each set is a dense array per model, indexed by
//! value (a map past [`DENSE`]); the calls are read once. The histograms are what the SQL's
//! groups would give, to the call and the cent (`tests.rs` checks them against DuckDB
//! running that SQL, through the percentiles a report cites).

use arrow::array::{Array, RecordBatch};
use arrow::error::ArrowError;

use super::exact::Exact;
use super::stream::{at, flags, floats, ints};
use super::{FastMap, Histogram};

/// A histogram as counted: per value, the calls and their cost summed in any order to the
/// same amount ([`Exact`]); made a [`Histogram`] once every count is in.
type Counted = FastMap<i64, (u64, Exact)>;

fn histogram(counted: Counted) -> Histogram {
    counted
        .into_iter()
        .map(|(v, (n, cost))| (v, (n, cost.value())))
        .collect()
}

/// Values below this may be counted in arrays (a latency up to ~2 minutes, up to 131k
/// tokens); larger or negative ones in a map.
pub const DENSE: usize = 1 << 17;

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

/// Array slots all the histograms of one count may hold (32 bytes each: 64 MB); values past
/// them go to the maps. A dataset of hundreds of models stays bounded.
const SLOTS: usize = 2 << 20;

/// A histogram being counted: values below the array's length by index (the array grows
/// on demand up to [`DENSE`] while the count's [`SLOTS`] last), others in a map.
#[derive(Default)]
struct Dense {
    slots: Vec<(u64, Exact)>,
    other: Counted,
}

impl Dense {
    #[inline]
    fn add(&mut self, value: i64, cost: f64, room: &mut usize) {
        let slot = match usize::try_from(value) {
            Ok(i) if i < self.slots.len() => &mut self.slots[i],
            Ok(i) if i < DENSE && self.grow(i, room) => &mut self.slots[i],
            _ => self.other.entry(value).or_default(),
        };
        slot.0 += 1;
        slot.1.add(cost);
    }

    /// Grow the array to hold index `i` (at least doubling) if `room` allows.
    #[cold]
    fn grow(&mut self, i: usize, room: &mut usize) -> bool {
        let len = (i + 1).max(self.slots.len() * 2).clamp(1024, DENSE);
        let more = len - self.slots.len();
        if more > *room {
            return false;
        }
        *room -= more;
        self.slots.resize(len, (0, Exact::default()));
        true
    }

    fn into_counted(self) -> Counted {
        let mut h = self.other;
        for (v, slot) in self.slots.into_iter().enumerate() {
            if slot.0 > 0 {
                h.insert(v as i64, slot);
            }
        }
        h
    }
}

/// The distributions being counted: batches of single calls in, histograms out.
pub struct Counts {
    /// Per model id: latency, output tokens of successful calls.
    per_model: Vec<(Dense, Dense)>,
    input: Dense,
    ttft: Dense,
    /// Array slots left (see [`SLOTS`]).
    room: usize,
}

impl Default for Counts {
    fn default() -> Self {
        Counts {
            per_model: Vec::new(),
            input: Dense::default(),
            ttft: Dense::default(),
            room: SLOTS,
        }
    }
}

impl Counts {
    /// Count a batch of single calls: columns latency (ms, floored), output tokens, input
    /// tokens, time to first token (ms, floored), succeeded, cost; `ids` are the rows'
    /// (provider, model) ids.
    pub fn add_batch(&mut self, ids: &[usize], batch: &RecordBatch) -> Result<(), ArrowError> {
        if let Some(&most) = ids.iter().max()
            && most >= self.per_model.len()
        {
            self.per_model.resize_with(most + 1, Default::default);
        }
        let (latency, output, input) = (ints(batch, 0)?, ints(batch, 1)?, ints(batch, 2)?);
        let (ttft, ok, cost) = (ints(batch, 3)?, flags(batch, 4)?, floats(batch, 5)?);
        // Nulls count as 0, as the report read the grouped rows (the time to first token
        // excepted: calls without one are left out).
        let room = &mut self.room;
        for (i, &id) in ids.iter().enumerate() {
            let c = if cost.is_null(i) { 0.0 } else { cost.value(i) };
            let (latency_hist, output_hist) = &mut self.per_model[id];
            latency_hist.add(at(&latency, i).unwrap_or(0), c, room);
            if !ok.is_null(i) && ok.value(i) {
                output_hist.add(at(&output, i).unwrap_or(0), c, room);
                self.input.add(at(&input, i).unwrap_or(0), c, room);
            }
            if let Some(t) = at(&ttft, i) {
                // counted, not costed
                self.ttft.add(t, 0.0, room);
            }
        }
        Ok(())
    }

    /// The histograms; `models` names the model ids.
    pub fn finish(self, models: &[(String, String)]) -> Distributions {
        let mut d = Distributions::default();
        let merge = |into: &mut Counted, from: &Counted| {
            for (v, (n, c)) in from {
                let e = into.entry(*v).or_default();
                e.0 += n;
                e.1.merge(*c);
            }
        };
        let (mut latency_all, mut output_all) = (Counted::default(), Counted::default());
        for (name, (latency, output)) in models.iter().cloned().zip(self.per_model) {
            let (latency, output) = (latency.into_counted(), output.into_counted());
            merge(&mut latency_all, &latency);
            merge(&mut output_all, &output);
            d.models.push((name, histogram(latency), histogram(output)));
        }
        // The models in name order, whichever was seen first.
        d.models.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        d.latency = histogram(latency_all);
        d.output = histogram(output_all);
        d.input = histogram(self.input.into_counted());
        d.ttft = histogram(self.ttft.into_counted());
        d
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A histogram is the same whether its values went to the array, to the map (no room
    /// left, negative, or past DENSE), or some to each.
    #[test]
    fn a_histogram_is_the_same_from_the_array_or_the_map() {
        let values = [0, 3, 3, 1500, -2, DENSE as i64, DENSE as i64 + 7, 70_000, 3];
        let count = |room: usize| {
            let (mut d, mut room) = (Dense::default(), room);
            for (k, v) in values.iter().enumerate() {
                d.add(*v, k as f64, &mut room);
            }
            let mut h: Vec<(i64, (u64, f64))> = histogram(d.into_counted()).into_iter().collect();
            h.sort_by_key(|e| e.0);
            h
        };
        let all = count(SLOTS);
        assert_eq!(
            all.iter().find(|e| e.0 == 3),
            Some(&(3, (3, 1.0 + 2.0 + 8.0)))
        );
        assert_eq!(all.len(), 7);
        for room in [0, 1024, 2048] {
            assert_eq!(count(room), all, "room {room}");
        }
    }
}
