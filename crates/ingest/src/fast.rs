//! JSON lines, fast: the file is read in chunks cut at line ends; each chunk is parsed,
//! tallied and its records appended to Arrow columns on one of the parsing threads (every
//! core), its batches handed to the caller's `prepare` there, and the tallies and prepared
//! batches come back in file order. The scaffold ([`on_all_cores`]) serves OTLP/JSON lines
//! and CSV batches too.
//!
//! A line is read straight into the fields [`convert`] asks for (strings borrowed from the
//! line, other keys skipped unparsed) instead of a `serde_json::Value` map: that map was
//! most of the cost of an ingest. Whatever this reader does not take as it is (invalid
//! JSON, a line that is not an object...) goes through [`json_line`], the whole-value path,
//! so what is kept, rejected and said is the same either way; the tests hold both to it.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::fs::File;
use std::io::Read;
use std::path::Path;
use std::sync::mpsc::{Receiver, sync_channel};
use std::sync::{Arc, Mutex};

use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::Value;

use super::convert::{Fields, collect, convert, json_line};
use super::json::line_text;
use super::{Collector, Format, IngestError, ParseOptions, Parsed};
use apex_core::buffers::SpareBuffers;
use apex_core::workload::{ACCOUNTING_COLUMNS, COLUMNS};
use arrow::array::RecordBatch;

/// Every field [`convert`] reads, in slot order: the per-call columns, then the accounting
/// columns a record may carry (`quality_flags` is ours to set, not read).
pub(crate) fn fields() -> impl Iterator<Item = &'static str> {
    COLUMNS.iter().chain(&ACCOUNTING_COLUMNS[..2]).copied()
}

/// How many fields [`fields`] lists; [`slot`] numbers them (a test holds the three together).
pub(crate) const SLOTS: usize = 25;

/// The slot of one of our field names.
#[inline]
pub(crate) fn slot(name: &str) -> Option<usize> {
    Some(match name {
        "event_id" => 0,
        "trace_id" => 1,
        "span_id" => 2,
        "parent_span_id" => 3,
        "timestamp" => 4,
        "tenant" => 5,
        "feature" => 6,
        "workload_type" => 7,
        "operation" => 8,
        "provider" => 9,
        "model" => 10,
        "input_tokens" => 11,
        "output_tokens" => 12,
        "cache_read_tokens" => 13,
        "cache_write_tokens" => 14,
        "reasoning_tokens" => 15,
        "latency_ms" => 16,
        "ttft_ms" => 17,
        "status" => 18,
        "error_type" => 19,
        "finish_reason" => 20,
        "prompt_hash" => 21,
        "cost_usd" => 22,
        "weight" => 23,
        "aggregated" => 24,
        _ => return None,
    })
}

/// Bytes read per chunk (a chunk ends at the last line end within it).
const CHUNK: usize = 2 << 20;

/// One value of a line, as much as [`Fields`] needs of it.
#[derive(Clone)]
enum Scalar<'a> {
    Null,
    Bool(bool),
    U64(u64),
    I64(i64),
    F64(f64),
    Str(Cow<'a, str>),
    /// An object or array.
    Other(Value),
}

impl Scalar<'_> {
    /// The value as `serde_json::Value` prints it (numbers, booleans, nested values).
    fn printed(&self) -> String {
        match self {
            Scalar::Null => "null".into(),
            Scalar::Bool(b) => b.to_string(),
            Scalar::U64(n) => serde_json::Number::from(*n).to_string(),
            Scalar::I64(n) => serde_json::Number::from(*n).to_string(),
            Scalar::F64(f) => serde_json::Number::from_f64(*f)
                .map(|n| n.to_string())
                .unwrap_or_else(|| "null".into()),
            Scalar::Str(s) => Value::String(s.to_string()).to_string(),
            Scalar::Other(v) => v.to_string(),
        }
    }
}

/// Where each input key goes: our names as they are, or through the header map (one input
/// key may feed several of our fields).
enum Keys {
    Plain,
    Mapped(HashMap<String, Vec<usize>>),
}

/// What the lines of one parse share: the key table and, per slot, the input's name for
/// messages.
struct Layout {
    keys: Keys,
    theirs: Vec<String>,
}

impl Layout {
    fn new(opts: &ParseOptions<'_>) -> Self {
        let theirs: Vec<String> = fields()
            .map(|ours| opts.columns.get(ours).cloned().unwrap_or(ours.to_string()))
            .collect();
        let keys = if opts.columns.is_empty() {
            Keys::Plain
        } else {
            let mut map: HashMap<String, Vec<usize>> = HashMap::new();
            for (i, key) in theirs.iter().enumerate() {
                map.entry(key.clone()).or_default().push(i);
            }
            Keys::Mapped(map)
        };
        Self { keys, theirs }
    }
}

/// The fields of one line, by slot.
struct Row<'a, 'l> {
    values: [Option<Scalar<'a>>; SLOTS],
    layout: &'l Layout,
}

impl<'a> Row<'a, '_> {
    #[inline]
    fn get<'s>(&'s self, name: &'s str) -> (Option<&'s Scalar<'a>>, &'s str) {
        match slot(name) {
            Some(i) => (self.values[i].as_ref(), self.layout.theirs[i].as_str()),
            None => (None, name),
        }
    }
}

impl Fields for Row<'_, '_> {
    #[inline]
    fn text(&self, name: &str) -> Option<Cow<'_, str>> {
        match self.values[slot(name)?].as_ref()? {
            Scalar::Null => None,
            Scalar::Str(s) if s.is_empty() => None,
            Scalar::Str(s) => Some(Cow::Borrowed(s)),
            other => Some(Cow::Owned(other.printed())),
        }
    }

    /// As [`super::convert::JsonFields`] reads a number, with the input's name in messages
    /// and, for a mapped field, ours after it (as the header map's wrapper says it).
    fn number(&self, name: &str) -> Result<Option<f64>, String> {
        let (value, theirs) = self.get(name);
        let mapped = |e: String| {
            if theirs == name {
                e
            } else {
                format!("{e} (mapped to `{name}`)")
            }
        };
        match value {
            None | Some(Scalar::Null) => Ok(None),
            Some(Scalar::U64(n)) => Ok(Some(*n as f64)),
            Some(Scalar::I64(n)) => Ok(Some(*n as f64)),
            Some(Scalar::F64(f)) => Ok(Some(*f)),
            Some(Scalar::Str(s)) if s.trim().is_empty() => Ok(None),
            Some(Scalar::Str(s)) => s
                .trim()
                .parse::<f64>()
                .map(Some)
                .map_err(|_| mapped(format!("field `{theirs}`: `{s}` is not a number"))),
            Some(other) => Err(mapped(format!(
                "field `{theirs}`: expected a number, got {}",
                other.printed()
            ))),
        }
    }
}

/// Reads one line's object into a [`Row`].
struct RowSeed<'r, 'a, 'l>(&'r mut Row<'a, 'l>);

impl<'de, 'l> DeserializeSeed<'de> for RowSeed<'_, 'de, 'l> {
    type Value = ();

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de, 'l> Visitor<'de> for RowSeed<'_, 'de, 'l> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let layout = self.0.layout;
        while let Some(slots) = map.next_key_seed(KeySeed(layout))? {
            match slots {
                Slots::None => {
                    map.next_value::<IgnoredAny>()?;
                }
                Slots::One(i) => self.0.values[i] = Some(map.next_value_seed(ScalarSeed)?),
                Slots::Many(all) => {
                    let v = map.next_value_seed(ScalarSeed)?;
                    for &i in all {
                        self.0.values[i] = Some(v.clone());
                    }
                }
            }
        }
        Ok(())
    }
}

enum Slots<'l> {
    None,
    One(usize),
    Many(&'l [usize]),
}

/// A key, looked up without allocating.
struct KeySeed<'l>(&'l Layout);

impl<'de, 'l> DeserializeSeed<'de> for KeySeed<'l> {
    type Value = Slots<'l>;

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Slots<'l>, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de, 'l> Visitor<'de> for KeySeed<'l> {
    type Value = Slots<'l>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a key")
    }

    fn visit_str<E: de::Error>(self, key: &str) -> Result<Slots<'l>, E> {
        Ok(match &self.0.keys {
            Keys::Plain => slot(key).map_or(Slots::None, Slots::One),
            Keys::Mapped(map) => match map.get(key).map(Vec::as_slice) {
                Some([one]) => Slots::One(*one),
                Some(all) => Slots::Many(all),
                None => Slots::None,
            },
        })
    }
}

struct ScalarSeed;

impl<'de> DeserializeSeed<'de> for ScalarSeed {
    type Value = Scalar<'de>;

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Scalar<'de>, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for ScalarSeed {
    type Value = Scalar<'de>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_unit<E: de::Error>(self) -> Result<Scalar<'de>, E> {
        Ok(Scalar::Null)
    }
    fn visit_none<E: de::Error>(self) -> Result<Scalar<'de>, E> {
        Ok(Scalar::Null)
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Scalar<'de>, E> {
        Ok(Scalar::Bool(v))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Scalar<'de>, E> {
        Ok(Scalar::U64(v))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Scalar<'de>, E> {
        Ok(Scalar::I64(v))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Scalar<'de>, E> {
        Ok(Scalar::F64(v))
    }
    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Scalar<'de>, E> {
        Ok(Scalar::Str(Cow::Borrowed(v)))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Scalar<'de>, E> {
        Ok(Scalar::Str(Cow::Owned(v.to_string())))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Scalar<'de>, E> {
        Ok(Scalar::Str(Cow::Owned(v)))
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Scalar<'de>, A::Error> {
        use serde::Deserialize;
        Value::deserialize(de::value::MapAccessDeserializer::new(map)).map(Scalar::Other)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Scalar<'de>, A::Error> {
        use serde::Deserialize;
        Value::deserialize(de::value::SeqAccessDeserializer::new(seq)).map(Scalar::Other)
    }
}

/// Keep (or reject) one non-blank line: read directly when it is a plain JSON object, else
/// by the whole-value path (which says why it is rejected).
fn line<E>(
    c: &mut Collector<'_, '_, E>,
    layout: &Layout,
    number: u64,
    text: &str,
) -> Result<(), IngestError<E>> {
    let mut row = Row {
        values: std::array::from_fn(|_| None),
        layout,
    };
    let mut de = serde_json::Deserializer::from_str(text);
    let read = RowSeed(&mut row)
        .deserialize(&mut de)
        .and_then(|()| de.end());
    match read {
        Ok(()) => {
            let opts = c.opts;
            collect(c, number, None, convert(&row, opts, number, None))
        }
        Err(_) => json_line(c, number, text),
    }
}

/// What is done with one non-blank line of a file read on all cores (its number, its text
/// without the line end); it tallies into the chunk's own collector.
pub(crate) type EachLine<'f, E> =
    dyn Fn(&mut Collector<'_, '_, E>, u64, &str) -> Result<(), IngestError<E>> + Sync + 'f;

/// Run `each` on the lines of one chunk (whole lines; `first` is the number of its first
/// line).
fn chunk_lines<E>(
    c: &mut Collector<'_, '_, E>,
    first: u64,
    bytes: &[u8],
    each: &EachLine<'_, E>,
) -> Result<(), IngestError<E>> {
    let body = bytes.strip_suffix(b"\n").unwrap_or(bytes);
    let ends = memchr::memchr_iter(b'\n', body).chain([body.len()]);
    let mut start = 0;
    for (i, end) in ends.enumerate() {
        let raw = &body[start..end];
        start = end + 1;
        let number = first + i as u64;
        if let Some(text) = line_text(c, number, raw) {
            each(c, number, text)?;
        }
    }
    Ok(())
}

/// Do one job of an input read on all cores into a collector of its own: its tally, and its
/// batches of records prepared on this thread.
fn job<J, E, B>(
    opts: &ParseOptions<'_>,
    format: Format,
    job: J,
    work: &Work<'_, J, E>,
    prepare: &(dyn Fn(RecordBatch) -> Result<B, E> + Sync),
) -> Outcome<E, B> {
    let mut prepared = Vec::new();
    let mut write = |records| {
        prepared.push(prepare(records)?);
        Ok(())
    };
    let mut c = Collector::new(opts, format, &mut write);
    work(&mut c, job)?;
    let parsed = c.finish()?;
    Ok((parsed, prepared))
}

/// Chunk buffers the parsing threads hand back for the reader to fill again: with OTLP's
/// 2.6 MB request lines (a buffer grown, its tail copied out) the kernel's copy into new ones
/// took a sixth of the ingest's CPU, five times JSONL's cost per byte. At most 16 kept (about
/// what is in flight on 8 threads), none that grew past four chunks for a long line.
fn chunk_buffers() -> SpareBuffers {
    SpareBuffers::new(16, 4 * CHUNK)
}

/// Read `path` in chunks of whole lines, each with the number of its first line, into
/// buffers from `buffers`.
fn read_chunks(
    path: &Path,
    buffers: &SpareBuffers,
    mut send: impl FnMut(u64, Vec<u8>) -> bool,
) -> Result<(), String> {
    let mut file =
        File::open(path).map_err(|e| format!("path: cannot open {}: {e}", path.display()))?;
    let mut line = 1u64;
    // What `buf` holds at the top of the loop has no line end: the tail after the last
    // chunk's, or the start of a line longer than a chunk.
    let mut buf = buffers.take(CHUNK);
    loop {
        let scanned = buf.len();
        buf.reserve(CHUNK);
        let target = scanned + CHUNK;
        let mut eof = false;
        while buf.len() < target {
            let n = (&mut file)
                .take((target - buf.len()) as u64)
                .read_to_end(&mut buf)
                .map_err(|e| {
                    format!(
                        "path: read error in {} after line {}: {e}",
                        path.display(),
                        line.saturating_sub(1)
                    )
                })?;
            if n == 0 {
                eof = true;
                break;
            }
        }
        if eof {
            if !buf.is_empty() {
                send(line, buf);
            }
            return Ok(());
        }
        // A line longer than a chunk: read on into the same buffer.
        let Some(end) = memchr::memrchr(b'\n', &buf[scanned..]).map(|i| scanned + i) else {
            continue;
        };
        let mut next = buffers.take(buf.len() - (end + 1) + CHUNK);
        next.extend_from_slice(&buf[end + 1..]);
        buf.truncate(end + 1);
        let lines = memchr::memchr_iter(b'\n', &buf[..]).count() as u64;
        let first = line;
        line += lines;
        if !send(first, buf) {
            return Ok(());
        }
        buf = next;
    }
}

/// What one job came to: its tally and prepared batches, or why it stopped.
type Outcome<E, B> = Result<(Parsed, Vec<B>), IngestError<E>>;

/// What the parsing threads send back: a job's number and outcome.
type Done<E, B> = (u64, Outcome<E, B>);

/// Every record of a JSON-lines file in the workload schema (or another vocabulary through
/// the header map), parsed, tallied and prepared on all cores, the tallies added to `parsed`
/// and the batches handed to `write` in file order.
pub(crate) fn jsonl_file<E: Send, B: Send>(
    path: &Path,
    opts: &ParseOptions<'_>,
    parsed: &mut Parsed,
    prepare: &(dyn Fn(RecordBatch) -> Result<B, E> + Sync),
    write: &mut dyn FnMut(B) -> Result<(), E>,
) -> Result<(), IngestError<E>> {
    let layout = Layout::new(opts);
    let each =
        |c: &mut Collector<'_, '_, E>, number: u64, text: &str| line(c, &layout, number, text);
    lines_file(path, opts, parsed, &each, prepare, write)
}

/// Every line of a file of lines (JSON lines of any format), `each` run on it on all cores,
/// the chunks' tallies added to `parsed` and their prepared batches handed to `write` in
/// file order.
pub(crate) fn lines_file<E: Send, B: Send>(
    path: &Path,
    opts: &ParseOptions<'_>,
    parsed: &mut Parsed,
    each: &EachLine<'_, E>,
    prepare: &(dyn Fn(RecordBatch) -> Result<B, E> + Sync),
    write: &mut dyn FnMut(B) -> Result<(), E>,
) -> Result<(), IngestError<E>> {
    let buffers = chunk_buffers();
    let produce = |send: &mut dyn FnMut((u64, Vec<u8>)) -> bool| {
        read_chunks(path, &buffers, |first, bytes| send((first, bytes)))
    };
    let work = |c: &mut Collector<'_, '_, E>, (first, bytes): (u64, Vec<u8>)| {
        let read = chunk_lines(c, first, &bytes, each);
        buffers.give(bytes);
        read
    };
    on_all_cores(opts, parsed, produce, &work, prepare, write)
}

/// What is done with one job of an input read on all cores, into the job's own collector.
pub(crate) type Work<'f, J, E> =
    dyn Fn(&mut Collector<'_, '_, E>, J) -> Result<(), IngestError<E>> + Sync + 'f;

/// Read an input on all cores: `produce` (on a thread of its own) cuts it into jobs in input
/// order and hands each to `send` (false: stop, the parse ended early); `work` reads each
/// job on one of the parsing threads into a collector of its own, whose records `prepare`
/// turns into batches there; the jobs' tallies are added to `parsed` and their batches
/// handed to `write` in input order. An error of `produce` (the input could not be read)
/// comes back after every job before it was written.
pub(crate) fn on_all_cores<J: Send, E: Send, B: Send>(
    opts: &ParseOptions<'_>,
    parsed: &mut Parsed,
    produce: impl FnOnce(&mut dyn FnMut(J) -> bool) -> Result<(), String> + Send,
    work: &Work<'_, J, E>,
    prepare: &(dyn Fn(RecordBatch) -> Result<B, E> + Sync),
    write: &mut dyn FnMut(B) -> Result<(), E>,
) -> Result<(), IngestError<E>> {
    let format = parsed.format;
    let workers = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .clamp(1, 8);
    let (job_tx, job_rx) = sync_channel::<(u64, J)>(workers);
    let job_rx = Arc::new(Mutex::new(job_rx));
    let (done_tx, done_rx) = sync_channel::<Done<E, B>>(workers);
    std::thread::scope(|s| {
        let reader = s.spawn(move || {
            let mut seq = 0u64;
            produce(&mut |j| {
                seq += 1;
                job_tx.send((seq - 1, j)).is_ok()
            })
        });
        let parsers: Vec<_> = (0..workers)
            .map(|_| {
                let (jobs, done) = (Arc::clone(&job_rx), done_tx.clone());
                s.spawn(move || {
                    // The writer (this function's caller) is the pipeline's serial stage.
                    apex_core::threads::parallel_stage_priority();
                    while let Some((seq, j)) = next_job(&jobs) {
                        let outcome = job(opts, format, j, work, prepare);
                        if done.send((seq, outcome)).is_err() {
                            return;
                        }
                    }
                })
            })
            .collect();
        drop((job_rx, done_tx));
        let collected = in_order(done_rx, |(tally, batches)| {
            parsed.absorb(tally);
            for batch in batches {
                write(batch).map_err(IngestError::Write)?;
            }
            Ok(())
        });
        // On an early stop the workers end at their next send and the reader at its next
        // job. A thread that panicked lost input: that is an error, never a short ingest.
        let joined = parsers.into_iter().all(|p| p.join().is_ok());
        let read = reader
            .join()
            .unwrap_or_else(|_| Err("internal: the reading thread panicked".into()));
        collected?;
        if !joined {
            return Err(IngestError::Io(
                "internal: a parsing thread panicked; the ingest stopped".into(),
            ));
        }
        read.map_err(IngestError::Io)
    })
}

fn next_job<J>(jobs: &Mutex<Receiver<(u64, J)>>) -> Option<(u64, J)> {
    jobs.lock().ok()?.recv().ok()
}

/// Hand each job's outcome to `each` in input order; the receiver is dropped on the first
/// error (a job's own, in input order, or `each`'s), which stops the workers.
fn in_order<E, B>(
    done: Receiver<Done<E, B>>,
    mut each: impl FnMut((Parsed, Vec<B>)) -> Result<(), IngestError<E>>,
) -> Result<(), IngestError<E>> {
    let mut next = 0u64;
    let mut waiting: BTreeMap<u64, Outcome<E, B>> = BTreeMap::new();
    for (seq, outcome) in done.iter() {
        waiting.insert(seq, outcome);
        while let Some(outcome) = waiting.remove(&next) {
            each(outcome?)?;
            next += 1;
        }
    }
    if waiting.is_empty() {
        Ok(())
    } else {
        Err(IngestError::Io(format!(
            "internal: part {next} of the input was never parsed; the ingest stopped"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_number_the_fields_in_order() {
        let all: Vec<&str> = fields().collect();
        assert_eq!(all.len(), SLOTS);
        assert_eq!(&all[SLOTS - 2..], ["weight", "aggregated"]);
        for (i, name) in all.iter().enumerate() {
            assert_eq!(slot(name), Some(i), "{name}");
        }
        assert_eq!(slot("quality_flags"), None);
    }
}
