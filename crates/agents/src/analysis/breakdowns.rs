//! The breakdowns of a report (spend, calls, tokens and failures by model, feature, tenant,
//! day and error type), counted from the calls' stream ([`super::stream`]): the sums of the
//! breakdowns query's `by_keys` (`collect::queries`), one group per distinct combination of
//! the keys and flags every breakdown is read from (~107k at 10M synthetic records).

use arrow::array::{Array, BooleanArray, Int64Array, RecordBatch};
use arrow::error::ArrowError;

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

/// The sums of a group: weights (calls), cost, tokens, and records.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Sums {
    pub weights: i64,
    pub spend: f64,
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
                g.spend += cost.value(i);
            }
            g.inputs += value(&input, i);
            g.outputs += value(&output, i);
            g.cache_reads += value(&cache_read, i);
            g.cache_writes += value(&cache_write, i);
            g.records += 1;
        }
        Ok(())
    }

    /// The groups, in no particular order; `models` names the model ids.
    pub fn finish(self, models: &[(String, String)]) -> Vec<Group> {
        let low = |v: u64| (v & 0xffff_ffff) as usize;
        self.groups
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
            .collect()
    }
}
