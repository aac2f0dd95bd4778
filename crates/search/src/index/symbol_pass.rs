//! The symbol pass: parse the files that wait for symbols (a large update committed their
//! text first, or they are over [`LARGE_SYMBOL_FILE`]) with tree-sitter and add their symbol
//! and spans documents.
//!
//! Parsing is the expensive part and runs outside the update lock; the lock is taken only to
//! commit what was parsed, in chunks of at most [`COMMIT_DOCS`] documents, so a watched edit
//! waits for one small commit at most. A batch parses while the one before it is committed.
//! Small files go first, large ones after in batches of their own. While the pass runs every
//! update shares its writer, on which groups of the pass's segments are merged in the
//! background.

use std::collections::HashSet;
use std::path::Path;
use std::sync::{MutexGuard, OnceLock, TryLockError};
use std::time::{Duration, Instant};

use rayon::prelude::*;
use serde_json::json;
use tantivy::{TantivyDocument, Term, doc, index::SegmentId};
use tokio_util::sync::CancellationToken;

use super::manifest::FileMeta;
use super::origin::{Origin, origin};
use super::schema::{KIND_SPANS, KIND_SYMBOL, encode_spans, file_rank, path_hash, symbol_rank};
use super::text_pass::{Buffered, DocSink, Op, Prepared, SymbolsNow};
use super::*;
use crate::symbols::{self, Symbol};
use crate::walk::WalkedFile;
use apex_core::events::EventSink;

/// Source bytes parsed per batch (outside the lock) and files at most.
const SYMBOL_BATCH_BYTES: u64 = 8 << 20;
const SYMBOL_BATCH_FILES: usize = 4000;
/// Documents committed under one hold of the update lock: what an edit saved during the pass
/// may wait for.
pub(super) const COMMIT_DOCS: usize = 12_000;
/// Segments of the pass merged together in the background.
const MERGE_GROUP: usize = 24;

/// One parsed file, waiting to be committed: what the manifest said when it was picked (it
/// is committed only if that is still so), what it becomes, and its documents.
struct Parsed {
    rel: String,
    seen: FileMeta,
    outcome: Prepared,
    ops: Vec<Op>,
    bytes: u64,
}

impl Engine {
    /// Files waiting for the symbol pass.
    pub fn symbols_pending(&self) -> u64 {
        self.manifest.read().map(|m| m.pending).unwrap_or(0)
    }

    /// Up to `n` files waiting for the symbol pass, by path.
    pub fn pending_files(&self, n: usize) -> Vec<String> {
        let Ok(m) = self.manifest.read() else {
            return Vec::new();
        };
        let mut paths: Vec<&String> = m
            .files
            .iter()
            .filter(|(_, f)| f.symbols_pending())
            .map(|(p, _)| p)
            .collect();
        paths.sort_unstable();
        paths.into_iter().take(n).cloned().collect()
    }

    /// Parse every pending file for symbols and commit them, batch by batch. One pass runs at
    /// a time: a second caller waits for the running one (reporting its progress) and then
    /// finishes whatever is left. Returns when no file is pending. A file whose content
    /// changed since its text was indexed is re-indexed whole; a vanished one is dropped.
    pub fn extract_symbols(
        &self,
        sink: &dyn EventSink,
        cancel: &CancellationToken,
    ) -> Result<SymbolPass, SearchError> {
        self.gate()?;
        let started = Instant::now();
        let total = self.symbols_pending();
        let _turn = self.wait_for_turn(total, sink, cancel)?;
        let mut pass = SymbolPass::default();
        let left = self.symbols_pending();
        if left == 0 {
            if total > 0 {
                // Another pass parsed them all while this one waited.
                sink.emit(
                    "symbols_extracted",
                    json!({"done": total, "total": total,
                           "message": format!("{total}/{total} files parsed for symbols")}),
                );
            }
            pass.ms = started.elapsed().as_millis() as u64;
            return Ok(pass);
        }
        let bytes: u64 = self
            .manifest
            .read()
            .map(|m| {
                m.files
                    .values()
                    .filter(|f| f.symbols_pending())
                    .map(|f| f.size)
                    .sum()
            })
            .unwrap_or(0);
        // This event, one per batch, one to spare, and the closing `index_finished`.
        sink.expect_more(bytes / SYMBOL_BATCH_BYTES + 4);
        sink.emit(
            "symbols_started",
            json!({"files": left, "bytes": bytes,
                   "message": format!("{left} files to parse for symbols")}),
        );
        self.set_pass_active(true)?;
        let mut merges = Merges::default();
        let result = self.run_batches(left, &mut pass, &mut merges, sink, cancel);
        pass.ms = started.elapsed().as_millis() as u64;
        let merge_started = Instant::now();
        let closed = self.finish_merges(merges);
        pass.merge_ms = merge_started.elapsed().as_millis() as u64;
        release_parse_memory();
        result?;
        closed?;
        Ok(pass)
    }

    /// Take the symbol pass's turn, waiting for a running pass (with progress) meanwhile.
    fn wait_for_turn(
        &self,
        total: u64,
        sink: &dyn EventSink,
        cancel: &CancellationToken,
    ) -> Result<MutexGuard<'_, ()>, SearchError> {
        let mut last_report = Instant::now();
        loop {
            match self.symbol_turn.try_lock() {
                Ok(turn) => return Ok(turn),
                Err(TryLockError::Poisoned(_)) => return Err(SearchError::Poisoned),
                Err(TryLockError::WouldBlock) => {}
            }
            if cancel.is_cancelled() {
                return Err(SearchError::Cancelled { indexed: 0 });
            }
            if last_report.elapsed() >= Duration::from_secs(1) && total > 0 {
                let done = total.saturating_sub(self.symbols_pending());
                sink.emit(
                    "symbols_extracted",
                    json!({"done": done, "total": total,
                           "message": format!("{done}/{total} files parsed for symbols (by the pass already running)")}),
                );
                last_report = Instant::now();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn set_pass_active(&self, active: bool) -> Result<(), SearchError> {
        let mut up = self.update_lock.lock().map_err(|_| SearchError::Poisoned)?;
        up.pass_active = active;
        Ok(())
    }

    /// Parse batch after batch, each while the one before it is committed: the commit's
    /// indexing (one writer thread) and the next parse share the cores, instead of the
    /// parsing threads waiting for every commit.
    fn run_batches(
        &self,
        total: u64,
        pass: &mut SymbolPass,
        merges: &mut Merges,
        sink: &dyn EventSink,
        cancel: &CancellationToken,
    ) -> Result<(), SearchError> {
        let root = self.rules.root().to_path_buf();
        let parse = |batch: Vec<(String, FileMeta)>| -> Vec<Parsed> {
            let run = || {
                batch
                    .into_par_iter()
                    .map(|(rel, seen)| self.parse_pending(&root, rel, seen))
                    .collect()
            };
            match parse_pool() {
                Some(pool) => pool.install(run),
                None => run(),
            }
        };
        let mut done = 0u64;
        // Parsed and not committed yet: its files are still pending, and not picked again.
        let mut ready: Option<Vec<Parsed>> = None;
        loop {
            if cancel.is_cancelled() {
                return Err(SearchError::Cancelled { indexed: done });
            }
            let batch = {
                let parsed: HashSet<&str> =
                    ready.iter().flatten().map(|p| p.rel.as_str()).collect();
                self.next_batch(&parsed)?
            };
            if batch.is_empty() && ready.is_none() {
                return Ok(());
            }
            let (next, committed) = std::thread::scope(|s| {
                let parsing = (!batch.is_empty()).then(|| s.spawn(|| parse(batch)));
                let committed = match ready.take() {
                    Some(parsed) => self.commit_batch(parsed, pass, merges),
                    None => Ok(0),
                };
                let next =
                    parsing.map(|p| p.join().unwrap_or_else(|e| std::panic::resume_unwind(e)));
                (next, committed)
            });
            let files = committed?;
            ready = next;
            if files == 0 {
                continue;
            }
            done += files;
            sink.emit(
                "symbols_extracted",
                json!({"done": done, "total": total.max(done), "symbols": pass.symbols,
                       "message": format!("{done}/{} files parsed for symbols", total.max(done))}),
            );
        }
    }

    /// Commit one parsed batch, in chunks of about [`COMMIT_DOCS`] documents. Returns how
    /// many files it held.
    fn commit_batch(
        &self,
        parsed: Vec<Parsed>,
        pass: &mut SymbolPass,
        merges: &mut Merges,
    ) -> Result<u64, SearchError> {
        let files = parsed.len() as u64;
        let mut chunk = Vec::new();
        let mut docs = 0;
        for p in parsed {
            docs += p.ops.len();
            chunk.push(p);
            if docs >= COMMIT_DOCS {
                self.commit_parsed(std::mem::take(&mut chunk), pass, merges)?;
                docs = 0;
            }
        }
        self.commit_parsed(chunk, pass, merges)?;
        Ok(files)
    }

    /// The next files to parse: small ones by path, then large ones by size, never mixed;
    /// none of `parsed` (a batch waiting for its commit).
    fn next_batch(&self, parsed: &HashSet<&str>) -> Result<Vec<(String, FileMeta)>, SearchError> {
        let m = self.manifest.read().map_err(|_| SearchError::Poisoned)?;
        let mut pending: Vec<(&String, &FileMeta)> = m
            .files
            .iter()
            .filter(|(p, f)| f.symbols_pending() && !parsed.contains(p.as_str()))
            .collect();
        let large = |f: &FileMeta| f.size > LARGE_SYMBOL_FILE;
        let order = |a: &(&String, &FileMeta), b: &(&String, &FileMeta)| {
            large(a.1)
                .cmp(&large(b.1))
                .then_with(|| {
                    if large(a.1) {
                        a.1.size.cmp(&b.1.size)
                    } else {
                        std::cmp::Ordering::Equal
                    }
                })
                .then_with(|| a.0.cmp(b.0))
        };
        // A batch is at most the first SYMBOL_BATCH_FILES in that order: only those are
        // sorted, not every pending file for every batch (a gigabyte's pass: ~100K paths
        // sorted for each of its ~130 batches).
        if pending.len() > SYMBOL_BATCH_FILES {
            pending.select_nth_unstable_by(SYMBOL_BATCH_FILES, order);
            pending.truncate(SYMBOL_BATCH_FILES);
        }
        pending.sort_unstable_by(order);
        let Some(first_large) = pending.first().map(|p| large(p.1)) else {
            return Ok(Vec::new());
        };
        let mut bytes = 0u64;
        Ok(pending
            .into_iter()
            .take_while(|(_, f)| {
                let take = bytes < SYMBOL_BATCH_BYTES && large(f) == first_large;
                bytes += f.size;
                take
            })
            .take(SYMBOL_BATCH_FILES)
            .map(|(r, f)| (r.clone(), f.clone()))
            .collect())
    }

    /// Commit parsed files under the update lock: those the manifest still knows as they were
    /// when picked (an update in between wins: it re-indexed the file or left it pending).
    fn commit_parsed(
        &self,
        parsed: Vec<Parsed>,
        pass: &mut SymbolPass,
        merges: &mut Merges,
    ) -> Result<(), SearchError> {
        if parsed.is_empty() {
            return Ok(());
        }
        self.yield_to_updates();
        let mut up = self.update_lock.lock().map_err(|_| SearchError::Poisoned)?;
        let current: Vec<Parsed> = {
            let m = self.manifest.read().map_err(|_| SearchError::Poisoned)?;
            parsed
                .into_iter()
                .filter(|p| m.files.get(&p.rel) == Some(&p.seen))
                .collect()
        };
        if current.is_empty() {
            return Ok(());
        }
        let handle = self.handle();
        let before: HashSet<SegmentId> =
            handle.index.searchable_segment_ids()?.into_iter().collect();
        let mut writer = self.take_writer(&mut up, &handle.index, 0, false)?;
        let mut outcomes = Vec::with_capacity(current.len());
        for p in current {
            for op in p.ops {
                match op {
                    Op::Delete(term) => writer.delete(term),
                    Op::Add(doc) => writer.add(doc),
                }
            }
            pass.bytes += p.bytes;
            outcomes.push((p.rel, p.outcome));
        }
        let info = self
            .manifest
            .read()
            .map_err(|_| SearchError::Poisoned)?
            .info
            .clone();
        let mut prepared = writer.prepare_commit()?;
        if let Some(info) = &info {
            prepared.set_payload(&serde_json::to_string(info).unwrap_or_default());
        }
        prepared.commit()?;
        handle.reader.reload()?;
        merges.fresh.extend(
            handle
                .index
                .searchable_segment_ids()?
                .into_iter()
                .filter(|id| !before.contains(id)),
        );
        if merges.fresh.len() >= MERGE_GROUP {
            let ids = std::mem::take(&mut merges.fresh);
            merges.running.push(writer.merge(&ids));
        }
        self.return_writer(&mut up, writer)?;
        let mut m = self.manifest.write().map_err(|_| SearchError::Poisoned)?;
        for (rel, outcome) in outcomes {
            pass.files += 1;
            match outcome {
                Prepared::Indexed(meta, _)
                | Prepared::Symbols(meta, _)
                | Prepared::SameContent(meta) => {
                    pass.symbols += meta.symbols.unwrap_or(0) as u64;
                    m.files.insert(rel, meta);
                }
                Prepared::Unreadable => {
                    m.files.remove(&rel);
                }
            }
        }
        m.recount();
        Ok(())
    }

    /// After the last batch: wait for the background merges (without the update lock, so
    /// edits go on), merge what is left, then close the shared writer. A merge that fails
    /// only leaves more segments; closing always happens.
    fn finish_merges(&self, merges: Merges) -> Result<(), SearchError> {
        for running in merges.running {
            if let Err(e) = running.wait() {
                tracing::debug!(error = %e, "a merge of symbol segments did not finish");
            }
        }
        if let Some(last) = self.merge_leftovers(&merges.fresh)
            && let Err(e) = last.wait()
        {
            tracing::debug!(error = %e, "a merge of symbol segments did not finish");
        }
        let mut up = self.update_lock.lock().map_err(|_| SearchError::Poisoned)?;
        up.pass_active = false;
        let closed = match up.writer.take() {
            Some(writer) => writer.wait_merging_threads().map_err(SearchError::from),
            None => Ok(()),
        };
        self.handle().reader.reload()?;
        closed
    }

    /// Start merging the pass's segments that no group merge took, on the shared writer.
    fn merge_leftovers(
        &self,
        fresh: &[SegmentId],
    ) -> Option<tantivy::FutureResult<Option<tantivy::index::SegmentMeta>>> {
        let mut up = self.update_lock.lock().ok()?;
        let live: HashSet<SegmentId> = self
            .handle()
            .index
            .searchable_segment_ids()
            .ok()?
            .into_iter()
            .collect();
        let ids: Vec<SegmentId> = fresh
            .iter()
            .filter(|id| live.contains(id))
            .copied()
            .collect();
        match up.writer.as_mut() {
            Some(w) if ids.len() >= 2 => Some(w.merge(&ids)),
            _ => None,
        }
    }

    /// Parse one pending file: its symbols only, when its content is what was indexed; the
    /// whole file again when it changed since; its removal when it is gone.
    fn parse_pending(&self, root: &Path, rel: String, seen: FileMeta) -> Parsed {
        let abs = root.join(&rel);
        let out = Buffered::default();
        let Ok(bytes) = std::fs::read(&abs) else {
            out.delete(Term::from_field_text(self.f.path, &rel));
            return Parsed {
                rel,
                seen,
                outcome: Prepared::Unreadable,
                ops: out.into_ops(),
                bytes: 0,
            };
        };
        let size = bytes.len() as u64;
        let hash = xxhash_rust::xxh3::xxh3_64(&bytes);
        if hash != seen.hash || size != seen.size {
            // Changed since the text pass: index it again, whole.
            let file = WalkedFile {
                rel: rel.clone(),
                abs,
                size,
                mtime_ns: seen.mtime_ns,
            };
            drop(bytes);
            let outcome = self.prepare(&file, None, &out, SymbolsNow::Always);
            return Parsed {
                rel,
                seen,
                outcome,
                ops: out.into_ops(),
                bytes: size,
            };
        }
        let text = match String::from_utf8(bytes) {
            Ok(s) => s,
            Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
        };
        let syms = symbols::Language::from_name(&seen.lang)
            .map(|l| symbols::extract(l, &text))
            .unwrap_or_default();
        let from = origin(&rel, &text);
        self.add_symbols(&out, &rel, path_hash(&rel), &seen.lang, hash, from, &syms);
        let meta = FileMeta {
            symbols: Some(syms.len() as u32),
            ..seen.clone()
        };
        Parsed {
            rel,
            seen,
            outcome: Prepared::Symbols(meta, false),
            ops: out.into_ops(),
            bytes: size,
        }
    }

    /// The symbol and spans documents of one parsed file.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn add_symbols(
        &self,
        out: &dyn DocSink,
        rel: &str,
        ph: u64,
        lang: &str,
        hash: u64,
        origin: Origin,
        syms: &[Symbol],
    ) {
        let f = &self.f;
        let file = file_rank(origin, rel);
        for s in syms {
            out.add(self.symbol_doc(rel, ph, lang, file, s));
        }
        out.add(doc!(
            f.kind => KIND_SPANS, f.path => rel, f.file_path => rel, f.path_hash => ph,
            f.lang => lang, f.file_lang => lang, f.sym_hash => hash, f.nsym => syms.len() as u64, f.spans => encode_spans(syms),
        ));
    }

    fn symbol_doc(
        &self,
        rel: &str,
        ph: u64,
        lang: &str,
        file_rank: u64,
        s: &Symbol,
    ) -> TantivyDocument {
        let f = &self.f;
        let mut d = doc!(
            f.kind => KIND_SYMBOL, f.path => rel, f.path_hash => ph, f.lang => lang,
            f.name => s.name.as_str(), f.name_exact => crate::tokenizer::lower(&s.name),
            f.sym_kind => s.kind.name(), f.signature => s.signature.as_str(),
            f.line => s.line as u64, f.end_line => s.end_line as u64,
            f.rank => symbol_rank(file_rank, s),
        );
        if let Some(c) = &s.container {
            d.add_text(f.container, c);
            d.add_text(f.container_exact, crate::tokenizer::lower(c));
        }
        d
    }
}

/// The pass's segments not merged yet, and the merges running in the background.
#[derive(Default)]
struct Merges {
    fresh: Vec<SegmentId>,
    running: Vec<tantivy::FutureResult<Option<tantivy::index::SegmentMeta>>>,
}

/// Give the memory the pass's parses and documents freed back to the system: tree-sitter's
/// (mimalloc, per parsing thread) and the rest (glibc).
fn release_parse_memory() {
    if let Some(pool) = parse_pool() {
        pool.broadcast(|_| symbols::release_thread_memory());
    }
    rayon::broadcast(|_| symbols::release_thread_memory());
    symbols::release_thread_memory();
    apex_core::memory::release_free_memory();
}

/// The symbol pass's own threads, one per core, at background priority. On rayon's shared
/// pool a query's parallel work (the text fallback's reads, a search's line scoring) queued
/// behind the pass's parse jobs. At background priority a saved file's update, a query and
/// the pass's own commit (its index writer's thread) take the cores first, and so does a
/// compiler the user runs beside it. Since a batch parses while the one before it commits,
/// the priority costs a pass nothing on a machine that does nothing else (8.2-8.6 MB/s on
/// the gigabyte corpus either way, which is within this machine's noise), and a save made
/// during it became searchable at p95 205 ms instead of 263 (BENCHMARKS.md, issue 18); a
/// pass someone waits for while the machine is busy with other work takes longer. `None`
/// when the threads cannot be started: the pass then parses on the shared pool.
fn parse_pool() -> Option<&'static rayon::ThreadPool> {
    static POOL: OnceLock<Option<rayon::ThreadPool>> = OnceLock::new();
    POOL.get_or_init(|| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(std::thread::available_parallelism().map_or(2, |n| n.get()))
            .thread_name(|i| format!("apex-symbols-{i}"))
            .start_handler(|_| apex_core::threads::background_priority())
            .build()
            .ok()
    })
    .as_ref()
}
