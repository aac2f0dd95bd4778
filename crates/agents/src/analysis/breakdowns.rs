//! The breakdowns of a report (spend, calls, tokens and failures by model, feature, tenant,
//! day and error type), counted from the calls' stream ([`super::stream`]): the sums of the
//! breakdowns query's `by_keys` (`collect::queries`), one group per distinct combination of
//! the keys and flags every breakdown is read from (~107k at 10M synthetic records).

use arrow::array::{Array, BooleanArray, Int64Array, RecordBatch};
use arrow::error::ArrowError;

use super::exact::Exact;
#[cfg(doc)]
use super::stream::ModelIds;
use super::stream::{TextIds, at, flags, floats, ints};

/// A group's ids and flags, packed.
type Key = (u64, u64, u64);

fn key_hash(k: &Key) -> u64 {
    let mut bytes = [0u8; 24];
    bytes[..8].copy_from_slice(&k.0.to_le_bytes());
    bytes[8..16].copy_from_slice(&k.1.to_le_bytes());
    bytes[16..].copy_from_slice(&k.2.to_le_bytes());
    xxhash_rust::xxh3::xxh3_64(&bytes)
}

/// One group of calls: its keys and flags, and their sums.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Group {
    pub provider: String,
    pub model: String,
    pub workload_type: String,
    pub feature: String,
    pub tenant: String,
    pub day: String,
    /// `error_type`, "unknown" where it is null.
    pub error_kind: String,
    pub ok: bool,
    pub short: bool,
    pub hashed: bool,
    pub billed: bool,
    pub sums: Sums,
}

/// The sums of a group: weights (calls), cost (summed in any order to the same amount),
/// tokens, and records.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Sums {
    pub weights: i64,
    pub spend: Exact,
    pub inputs: i64,
    pub outputs: i64,
    pub cache_reads: i64,
    pub cache_writes: i64,
    pub records: i64,
}

/// The breakdowns being counted.
#[derive(Default)]
pub struct Counts {
    workload_types: TextIds,
    features: TextIds,
    tenants: TextIds,
    days: TextIds,
    errors: TextIds,
    /// (model | workload type, feature | tenant, day | error kind | flags) and its sums,
    /// hashed once per call (`key_hash`)
    groups: hashbrown::HashTable<(Key, Sums)>,
}

impl Counts {
    /// Count a batch of calls: columns workload type, feature, tenant, day, error kind,
    /// succeeded, short, has a prompt hash, billed, weight, cost, input tokens, output
    /// tokens, cache read tokens, cache write tokens; `models` are the rows' (provider,
    /// model) ids ([`ModelIds`]).
    pub fn add_batch(&mut self, models: &[usize], batch: &RecordBatch) -> Result<(), ArrowError> {
        let workload_types = self.workload_types.of_rows(batch.column(0))?;
        let features = self.features.of_rows(batch.column(1))?;
        let tenants = self.tenants.of_rows(batch.column(2))?;
        let days = self.days.of_rows(batch.column(3))?;
        let errors = self.errors.of_rows(batch.column(4))?;
        let flag = |i: usize| flags(batch, i);
        let (ok, short, hashed, billed) = (flag(5)?, flag(6)?, flag(7)?, flag(8)?);
        let (weight, cost) = (ints(batch, 9)?, floats(batch, 10)?);
        let (input, output) = (ints(batch, 11)?, ints(batch, 12)?);
        let (cache_read, cache_write) = (ints(batch, 13)?, ints(batch, 14)?);
        // a null flag is false, as the report read the grouped rows; SQL's sums leave nulls out
        let set = |a: &BooleanArray, i: usize| !a.is_null(i) && a.value(i);
        let value = |a: &Int64Array, i: usize| at(a, i).unwrap_or(0);
        for i in 0..batch.num_rows() {
            let flags = u64::from(set(&ok, i))
                | u64::from(set(&short, i)) << 1
                | u64::from(set(&hashed, i)) << 2
                | u64::from(set(&billed, i)) << 3;
            let key = (
                (models[i] as u64) << 32 | workload_types[i] as u64,
                (features[i] as u64) << 32 | tenants[i] as u64,
                (days[i] as u64) << 32 | (errors[i] as u64) << 4 | flags,
            );
            let hash = key_hash(&key);
            let g = match self.groups.find_mut(hash, |e| e.0 == key) {
                Some(e) => &mut e.1,
                None => {
                    let e = self
                        .groups
                        .insert_unique(hash, (key, Sums::default()), |e| key_hash(&e.0));
                    &mut e.into_mut().1
                }
            };
            g.weights += value(&weight, i);
            if !cost.is_null(i) {
                g.spend.add(cost.value(i));
            }
            g.inputs += value(&input, i);
            g.outputs += value(&output, i);
            g.cache_reads += value(&cache_read, i);
            g.cache_writes += value(&cache_write, i);
            g.records += 1;
        }
        Ok(())
    }

    /// The groups, in the order of their keys (whatever order the calls came in, so that
    /// sums over groups are the same from run to run); `models` names the model ids.
    pub fn finish(self, models: &[(String, String)]) -> Vec<Group> {
        let low = |v: u64| (v & 0xffff_ffff) as usize;
        let mut groups: Vec<Group> = self
            .groups
            .into_iter()
            .map(|((a, b, c), sums)| {
                let (provider, model) = models[(a >> 32) as usize].clone();
                Group {
                    provider,
                    model,
                    workload_type: self.workload_types.names[low(a)].clone(),
                    feature: self.features.names[(b >> 32) as usize].clone(),
                    tenant: self.tenants.names[low(b)].clone(),
                    day: self.days.names[(c >> 32) as usize].clone(),
                    error_kind: self.errors.names[low(c) >> 4].clone(),
                    ok: c & 1 != 0,
                    short: c & 2 != 0,
                    hashed: c & 4 != 0,
                    billed: c & 8 != 0,
                    sums,
                }
            })
            .collect();
        groups.sort_unstable_by(|a, b| order(a).cmp(&order(b)));
        groups
    }
}

/// The order of groups: by their keys, then their flags.
fn order(g: &Group) -> ([&str; 7], [bool; 4]) {
    (
        [
            &g.provider,
            &g.model,
            &g.workload_type,
            &g.feature,
            &g.tenant,
            &g.day,
            &g.error_kind,
        ],
        [g.ok, g.short, g.hashed, g.billed],
    )
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{ArrayRef, BooleanArray, Float64Array, Int64Array, StringArray};
    use arrow::datatypes::{DataType, Field, Schema};

    use super::*;

    /// A call as the stream hands it over: (model id, workload type, feature, cost).
    type Call<'a> = (usize, &'a str, &'a str, f64);

    fn batch(calls: &[Call<'_>]) -> RecordBatch {
        let text = |f: &dyn Fn(&Call<'_>) -> String| -> ArrayRef {
            Arc::new(StringArray::from_iter_values(calls.iter().map(f)))
        };
        let int = |v: i64| -> ArrayRef { Arc::new(Int64Array::from(vec![v; calls.len()])) };
        let flag = |v: bool| -> ArrayRef { Arc::new(BooleanArray::from(vec![v; calls.len()])) };
        let columns: Vec<ArrayRef> = vec![
            text(&|c| c.1.to_string()),
            text(&|c| c.2.to_string()),
            text(&|_| "acme".into()),
            text(&|_| "2026-01-01".into()),
            text(&|_| "unknown".into()),
            flag(true),
            flag(false),
            flag(true),
            flag(true),
            int(1),
            Arc::new(Float64Array::from_iter_values(calls.iter().map(|c| c.3))),
            int(10),
            int(2),
            int(0),
            int(0),
        ];
        let fields: Vec<Field> = columns
            .iter()
            .enumerate()
            .map(|(i, c)| Field::new(format!("c{i}"), c.data_type().clone(), true))
            .collect();
        assert_eq!(fields[10].data_type(), &DataType::Float64);
        RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).unwrap()
    }

    /// The same calls in another order and other batches give the same groups, in the same
    /// order, with the same sums to the last bit: a report does not depend on the order in
    /// which the engine's threads deliver the calls.
    #[test]
    fn the_groups_do_not_depend_on_the_order_of_the_calls() {
        let models = [
            ("openai".to_string(), "gpt-4o".to_string()),
            ("anthropic".to_string(), "claude".to_string()),
        ];
        let calls: Vec<Call<'_>> = (0..3_000)
            .map(|i| {
                let cost = ((i * 7919) % 10_007) as f64 * 1.3e-5 + 1e-9 * (i % 13) as f64;
                (
                    i % 2,
                    ["rag", "chat"][i % 3 % 2],
                    ["search", "ask"][i % 5 % 2],
                    cost,
                )
            })
            .collect();
        let count = |calls: &[Call<'_>], per_batch: usize| {
            let mut counts = Counts::default();
            for chunk in calls.chunks(per_batch) {
                let ids: Vec<usize> = chunk.iter().map(|c| c.0).collect();
                counts.add_batch(&ids, &batch(chunk)).unwrap();
            }
            counts.finish(&models)
        };
        let forward = count(&calls, 256);
        let mut reversed = calls.clone();
        reversed.reverse();
        let backward = count(&reversed, 1000);
        assert_eq!(forward.len(), 8);
        assert_eq!(forward, backward);
        // Summed as floats in those two orders, the same calls' costs differ.
        let group = |g: &Group| (g.workload_type.clone(), g.feature.clone(), g.model.clone());
        let first = group(&forward[0]);
        let mine =
            |c: &&Call<'_>| (c.1.to_string(), c.2.to_string(), models[c.0].1.clone()) == first;
        let f: f64 = calls.iter().filter(mine).map(|c| c.3).sum();
        let b: f64 = reversed.iter().filter(mine).map(|c| c.3).sum();
        assert_ne!(
            f.to_bits(),
            b.to_bits(),
            "pick costs whose float sums differ"
        );
        assert!((forward[0].sums.spend.value() - f).abs() < 1e-9);
    }
}
