//! Repeated prompts counted exactly in bounded memory: the figure of [`super::sql::duplicates`]
//! (successful calls grouped by provider, model and prompt hash; the groups of more than
//! one call) without holding every group at once.
//!
//! Nearly every prompt is sent once, so the groups are about as many as the calls: the
//! engine's hash aggregate held ~57M of them at 100M records (1.65 GB of RSS, 69 s, most of
//! it spilling through a sort; BENCHMARKS.md). Here the calls stream by once
//! ([`super::stream`]) and each is
//! appended, as (provider-and-model id, prompt hash, cost), to one of [`PARTITIONS`]
//! buffers chosen by a hash of its key; once the buffers hold [`BUDGET`] bytes in all they
//! are appended to one scratch file per partition. Then each partition is aggregated alone
//! (a key is in one partition only), keys compared byte for byte. Memory: the budget plus
//! one partition and its table. The figure is the SQL's to the cent (`tests.rs` checks it
//! against DuckDB running that SQL).

use std::fs::File;
use std::io::{Read, Write};
use std::path::Path;

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::DataType;
use tokio_util::sync::CancellationToken;
use xxhash_rust::xxh3::xxh3_64;

use super::DuplicateRow;
use super::exact::Exact;
use crate::AgentError;
use apex_datasets::layout::Scratch;

/// Partitions of the keys. Each holds about 1/64 of the distinct prompts when aggregated:
/// ~0.9M at 100M records (a 30 MB partition and its table).
pub const PARTITIONS: usize = 64;

/// Bytes of calls held in memory before they are written to the partitions' files: 32 bytes
/// a call with a 16-character prompt hash, so ~4M calls.
pub const BUDGET: usize = 128 << 20;

/// The repeated prompts being counted: batches of calls in, rows out.
pub struct RepeatedPrompts<'a> {
    parts: Partitions<'a>,
}

impl<'a> RepeatedPrompts<'a> {
    /// A count that spills to a scratch directory under `scratch_root` past `budget` bytes.
    pub fn new(scratch_root: &'a Path, budget: usize) -> Self {
        RepeatedPrompts {
            parts: Partitions::new(scratch_root, budget),
        }
    }

    /// Count a batch of successful calls with a prompt hash: columns prompt hash, cost.
    /// `models` are the rows' (provider, model) ids.
    pub fn add_batch(
        &mut self,
        models: &[usize],
        batch: &RecordBatch,
    ) -> apex_datasets::Result<()> {
        self.parts
            .add_batch(batch, models)
            .map_err(|e| apex_datasets::DatasetError::Io(e.to_string()))
    }

    /// The repeated prompts per provider and model (`models` names the ids), in no
    /// particular order; the scratch directory is removed.
    pub fn finish(
        self,
        models: &[(String, String)],
        cancel: Option<&CancellationToken>,
    ) -> Result<Vec<DuplicateRow>, AgentError> {
        let RepeatedPrompts { parts } = self;
        // The partitions are independent: one per core at a time. Their costs are exact sums
        // (`Exact`), the same in whatever order the calls and partitions come.
        let (buffers, scratch) = parts.finish();
        let queue = std::sync::Mutex::new(buffers.into_iter().enumerate());
        let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
        type Done = Vec<(usize, Vec<Tally>)>;
        let per_thread: Vec<Result<Done, AgentError>> = std::thread::scope(|s| {
            let workers: Vec<_> = (0..threads)
                .map(|_| {
                    s.spawn(|| {
                        let mut done = Vec::new();
                        loop {
                            if cancel.is_some_and(CancellationToken::is_cancelled) {
                                return Err(AgentError::Cancelled);
                            }
                            let next = queue.lock().ok().and_then(|mut q| q.next());
                            let Some((p, buffer)) = next else {
                                return Ok(done);
                            };
                            let bytes = match &scratch {
                                Some(scratch) => read_partition(scratch, p, buffer).map_err(io)?,
                                None => buffer,
                            };
                            let mut totals = vec![Tally::default(); models.len()];
                            aggregate(&bytes, &mut totals)?;
                            done.push((p, totals));
                        }
                    })
                })
                .collect();
            workers
                .into_iter()
                .map(|w| {
                    w.join().unwrap_or_else(|_| {
                        Err(AgentError::Invalid(
                            "internal: the repeated-prompt count stopped".into(),
                        ))
                    })
                })
                .collect()
        });
        drop(scratch);
        let mut partitions: Done = Vec::with_capacity(PARTITIONS);
        for done in per_thread {
            partitions.extend(done?);
        }
        partitions.sort_by_key(|(p, _)| *p);
        let mut totals = vec![Tally::default(); models.len()];
        for (_, part) in partitions {
            for (t, p) in totals.iter_mut().zip(part) {
                t.repeated_prompts += p.repeated_prompts;
                t.calls += p.calls;
                t.repeats += p.repeats;
                t.repeat_cost.merge(p.repeat_cost);
            }
        }
        let mut rows: Vec<DuplicateRow> = totals
            .into_iter()
            .zip(models.iter().cloned())
            .filter(|(t, _)| t.repeated_prompts > 0)
            .map(|(t, (provider, model))| DuplicateRow {
                provider,
                model,
                repeated_prompts: t.repeated_prompts,
                calls: t.calls,
                repeats: t.repeats,
                repeat_cost_usd: t.repeat_cost.value(),
            })
            .collect();
        rows.sort_unstable_by(|a, b| (&a.provider, &a.model).cmp(&(&b.provider, &b.model)));
        Ok(rows)
    }
}

fn io(e: std::io::Error) -> AgentError {
    AgentError::Io(format!(
        "cannot spill the repeated-prompt count to scratch files: {e}"
    ))
}

/// The calls by partition: in memory, then appended to one scratch file per partition.
/// A call is `[key length: u32][key: model id u32, prompt hash bytes][cost: f64]`, little
/// endian.
struct Partitions<'a> {
    root: &'a Path,
    budget: usize,
    buffers: Vec<Vec<u8>>,
    buffered: usize,
    scratch: Option<(Scratch, Vec<File>)>,
}

impl<'a> Partitions<'a> {
    fn new(root: &'a Path, budget: usize) -> Self {
        Partitions {
            root,
            budget,
            buffers: vec![Vec::new(); PARTITIONS],
            buffered: 0,
            scratch: None,
        }
    }

    fn add_batch(&mut self, batch: &RecordBatch, ids: &[usize]) -> std::io::Result<()> {
        let arrow = |e: arrow::error::ArrowError| std::io::Error::other(e.to_string());
        let hash = arrow::compute::cast(batch.column(0), &DataType::Utf8).map_err(arrow)?;
        let hash = hash.as_string::<i32>();
        let cost = super::stream::floats(batch, 1).map_err(arrow)?;
        for (row, &id) in ids.iter().enumerate() {
            if hash.is_null(row) {
                continue;
            }
            let id = id as u32;
            let h = hash.value(row).as_bytes();
            let c = if cost.is_null(row) {
                0.0
            } else {
                cost.value(row)
            };
            let part = (xxh3_64(h) ^ u64::from(id).wrapping_mul(0x9e37_79b9_7f4a_7c15)) as usize
                % PARTITIONS;
            let buf = &mut self.buffers[part];
            let before = buf.len();
            buf.extend_from_slice(&((4 + h.len()) as u32).to_le_bytes());
            buf.extend_from_slice(&id.to_le_bytes());
            buf.extend_from_slice(h);
            buf.extend_from_slice(&c.to_le_bytes());
            self.buffered += buf.len() - before;
        }
        if self.buffered >= self.budget {
            self.spill()?;
        }
        Ok(())
    }

    /// Append every buffer to its partition's file.
    fn spill(&mut self) -> std::io::Result<()> {
        if self.scratch.is_none() {
            let scratch = Scratch::create(self.root, "repeated-prompts")?;
            let files = (0..PARTITIONS)
                .map(|p| File::create(partition_file(&scratch, p)))
                .collect::<std::io::Result<Vec<_>>>()?;
            self.scratch = Some((scratch, files));
        }
        if let Some((_, files)) = &mut self.scratch {
            for (buf, file) in self.buffers.iter_mut().zip(files.iter_mut()) {
                file.write_all(buf)?;
                buf.clear();
            }
        }
        self.buffered = 0;
        Ok(())
    }

    /// The buffers still in memory, and the scratch directory when there are files.
    fn finish(self) -> (Vec<Vec<u8>>, Option<Scratch>) {
        (self.buffers, self.scratch.map(|(scratch, _)| scratch))
    }
}

fn partition_file(scratch: &Scratch, p: usize) -> std::path::PathBuf {
    scratch.path().join(format!("{p:03}"))
}

/// Every call of partition `p`: its file's (removed once read), then `buffer`'s.
fn read_partition(scratch: &Scratch, p: usize, buffer: Vec<u8>) -> std::io::Result<Vec<u8>> {
    let path = partition_file(scratch, p);
    let mut bytes = Vec::new();
    File::open(&path)?.read_to_end(&mut bytes)?;
    std::fs::remove_file(&path)?;
    bytes.extend_from_slice(&buffer);
    Ok(bytes)
}

/// One model's repeated prompts as they are counted, partition by partition.
#[derive(Debug, Clone, Default)]
struct Tally {
    repeated_prompts: u64,
    calls: u64,
    repeats: u64,
    /// The repeats' cost, each prompt's share added in any order to the same amount.
    repeat_cost: Exact,
}

/// Group one partition's calls by key and add the groups of more than one call to their
/// model's totals (`totals[id]`).
fn aggregate(bytes: &[u8], totals: &mut [Tally]) -> Result<(), AgentError> {
    let corrupt = || AgentError::Io("the repeated-prompt count's scratch file is damaged".into());
    // (key, calls, summed cost); the key is a slice of `bytes`, its hash computed once.
    let mut groups: hashbrown::HashTable<(&[u8], u64, Exact)> =
        hashbrown::HashTable::with_capacity(bytes.len() / 32);
    let mut at = 0;
    while at < bytes.len() {
        let len = bytes
            .get(at..at + 4)
            .and_then(|b| b.try_into().ok())
            .map(u32::from_le_bytes)
            .ok_or_else(corrupt)? as usize;
        let key = bytes.get(at + 4..at + 4 + len).ok_or_else(corrupt)?;
        let cost = bytes
            .get(at + 4 + len..at + 12 + len)
            .and_then(|b| b.try_into().ok())
            .map(f64::from_le_bytes)
            .ok_or_else(corrupt)?;
        at += 12 + len;
        let hash = xxh3_64(key);
        match groups.find_mut(hash, |g| g.0 == key) {
            Some(g) => {
                g.1 += 1;
                g.2.add(cost);
            }
            None => {
                let sum = std::iter::once(cost).collect();
                groups.insert_unique(hash, (key, 1, sum), |g| xxh3_64(g.0));
            }
        }
    }
    for (key, n, cost) in groups {
        if n < 2 {
            continue;
        }
        let id = key
            .get(..4)
            .and_then(|b| b.try_into().ok())
            .map(u32::from_le_bytes)
            .ok_or_else(corrupt)? as usize;
        let t = totals.get_mut(id).ok_or_else(corrupt)?;
        t.repeated_prompts += 1;
        t.calls += n;
        t.repeats += n - 1;
        t.repeat_cost.add(cost.value() * (n - 1) as f64 / n as f64);
    }
    Ok(())
}
