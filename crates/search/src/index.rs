//! The tantivy index in `<data-dir>/index/`: its schema, opening (with damage detection and
//! rebuild), and incremental updates.
//!
//! Three kinds of documents live in one index: a *file* document per indexed file (content,
//! path, language, and the mtime/size/hash that make updates incremental), a *symbol*
//! document per definition, and a *spans* document per parsed file (its definitions' line
//! spans, and the content hash they were extracted from). The manifest of indexed files is
//! read back from fast fields at open, so the index alone is the truth; nothing else on disk
//! has to agree with it. Queries live in `query.rs`; this module only writes and hands out
//! searchers.
//!
//! A large update runs in two passes: the text pass reads, tokenizes and commits every file
//! (the workspace is searchable from then on), then the symbol pass parses the files with
//! tree-sitter and adds their symbol and spans documents in small committed batches. Parsing
//! is most of the cost of a build (tree-sitter reads ~8 MB per CPU-second; tantivy indexes
//! ~25), so text search does not wait for it. A file without a spans document for its current
//! hash is *pending*: the manifest knows it after a restart too, so a build killed between
//! the passes finishes its symbols on the next run.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, RwLock};
use std::time::Instant;

use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::json;
use tantivy::indexer::NoMergePolicy;
use tantivy::schema::{
    FAST, Field, IndexRecordOption, STORED, STRING, Schema, TextFieldIndexing, TextOptions,
};
use tantivy::{
    Index, IndexReader, IndexWriter, ReloadPolicy, TantivyDocument, Term, doc, index::SegmentId,
};
use tokio_util::sync::CancellationToken;

use super::SearchError;
use super::symbols::{self, Symbol};
use super::tokenizer::{CODE_TOKENIZER, CodeTokenizer};
use super::walk::{PathFilter, PathVerdict, WalkRules, WalkedFile};
use apex_core::events::EventSink;

/// Bump when the schema or the tokenizer changes: an index of another version is rebuilt.
const INDEX_VERSION: &str = "apex-search-2";
const VERSION_FILE: &str = "APEX_INDEX_VERSION";
/// Files per progress batch.
const BATCH_FILES: usize = 2000;
const BATCH_BYTES: u64 = 48 << 20;
/// Writer heap for large updates (all threads together) and for small ones.
const LARGE_HEAP: usize = 192 << 20;
const SMALL_HEAP: usize = 32 << 20;
/// Updates over this many bytes use the multi-threaded writer.
const LARGE_UPDATE: u64 = 16 << 20;
/// Source bytes parsed per committed batch of the symbol pass: small enough that a watched
/// edit waits well under a second for the update lock, large enough that commits stay cheap.
const SYMBOL_BATCH_BYTES: u64 = 12 << 20;
const SYMBOL_BATCH_FILES: usize = 4000;
/// How far into a file we look for NUL bytes to call it binary (as git and ripgrep do).
const BINARY_PROBE: usize = 8192;
/// Files larger than this are text-indexed but not parsed for symbols while indexing: they
/// are nearly always generated (bindings, tables, amalgamations), their parse costs as much as
/// the rest of a tree, and their symbols drown hand-written ones. `outline` and `read_code`
/// still parse them on demand.
pub const MAX_SYMBOL_FILE_SIZE: u64 = 256 << 10;
/// The language label of files skipped as binary; they stay in the manifest so that they
/// are not read again while unchanged.
pub const BINARY: &str = "binary";

/// The fields of both document kinds.
#[derive(Clone, Copy)]
pub(crate) struct Fields {
    pub kind: Field,
    pub path: Field,
    pub path_hash: Field,
    pub path_text: Field,
    pub lang: Field,
    pub content: Field,
    pub mtime: Field,
    pub size: Field,
    pub hash: Field,
    pub sym_hash: Field,
    pub nsym: Field,
    pub spans: Field,
    pub name: Field,
    pub name_exact: Field,
    pub sym_kind: Field,
    pub container: Field,
    pub container_exact: Field,
    pub signature: Field,
    pub line: Field,
    pub end_line: Field,
}

fn schema() -> (Schema, Fields) {
    let mut b = Schema::builder();
    let code = TextFieldIndexing::default()
        .set_tokenizer(CODE_TOKENIZER)
        .set_index_option(IndexRecordOption::WithFreqs);
    let code_text = TextOptions::default().set_indexing_options(code.clone());
    let f = Fields {
        kind: b.add_text_field("kind", STRING),
        path: b.add_text_field("path", STRING | STORED | FAST),
        path_hash: b.add_u64_field("path_hash", FAST),
        path_text: b.add_text_field("path_text", code_text.clone()),
        lang: b.add_text_field("lang", STRING | STORED | FAST),
        content: b.add_text_field("content", code_text),
        mtime: b.add_u64_field("mtime", FAST),
        size: b.add_u64_field("size", FAST),
        hash: b.add_u64_field("hash", FAST),
        sym_hash: b.add_u64_field("sym_hash", FAST),
        nsym: b.add_u64_field("nsym", FAST),
        spans: b.add_text_field("spans", STORED),
        name: b.add_text_field(
            "name",
            TextOptions::default()
                .set_indexing_options(code)
                .set_stored(),
        ),
        name_exact: b.add_text_field("name_exact", STRING),
        sym_kind: b.add_text_field("sym_kind", STRING | STORED),
        container: b.add_text_field("container", STORED),
        container_exact: b.add_text_field("container_exact", STRING),
        signature: b.add_text_field("signature", STORED),
        line: b.add_u64_field("line", STORED),
        end_line: b.add_u64_field("end_line", STORED),
    };
    (b.build(), f)
}

/// Document kinds, as stored in the `kind` field.
pub(crate) const KIND_FILE: &str = "file";
pub(crate) const KIND_SYMBOL: &str = "symbol";
pub(crate) const KIND_SPANS: &str = "spans";
/// The `container_exact` term of definitions outside any type, class or module body (no
/// lowercased name can equal it).
pub(crate) const NO_CONTAINER: &str = "\u{1}";

/// The hash of a path, used to filter by path globs with a fast field.
pub(crate) fn path_hash(rel: &str) -> u64 {
    xxhash_rust::xxh3::xxh3_64(rel.as_bytes())
}

/// What the index knows of one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FileMeta {
    pub mtime_ns: u64,
    pub size: u64,
    pub hash: u64,
    pub lang: String,
    /// Definitions found; `None` while the file waits for the symbol pass.
    pub symbols: Option<u32>,
}

impl FileMeta {
    pub fn symbols_pending(&self) -> bool {
        self.symbols.is_none()
    }
}

/// Whether a file of this language label and size is parsed for symbols.
fn parsable(lang: &str, size: u64) -> bool {
    size <= MAX_SYMBOL_FILE_SIZE && symbols::Language::from_name(lang).is_some()
}

/// Stored with every commit.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct CommitInfo {
    pub last_update: String,
    pub skipped_large: u64,
    pub skipped_symlinks: u64,
    /// False when the last full walk was cancelled before it finished.
    pub complete: bool,
}

/// The in-memory view of what is indexed, kept in step with commits.
#[derive(Debug, Default)]
pub(crate) struct Manifest {
    pub files: HashMap<String, FileMeta>,
    /// `None` until the first commit: the workspace was never indexed.
    pub info: Option<CommitInfo>,
    /// Files waiting for the symbol pass, recounted after every change to `files` (queries
    /// ask on every call; counting there would walk every file each time).
    pub pending: u64,
}

impl Manifest {
    fn recount(&mut self) {
        self.pending = self.files.values().filter(|f| f.symbols_pending()).count() as u64;
    }
}

/// What one update did.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct IndexReport {
    pub run_id: String,
    /// `full` rebuilds everything; `incremental` checks mtime and size, then content hash.
    pub mode: String,
    /// Files the walk accepted (or that the watcher reported).
    pub scanned: u64,
    pub added: u64,
    pub updated: u64,
    pub removed: u64,
    /// Files whose mtime or size changed but whose content did not.
    pub unchanged_content: u64,
    pub skipped_binary: u64,
    pub skipped_large: u64,
    pub bytes_indexed: u64,
    pub symbols_indexed: u64,
    /// The whole run, both passes when it waited for symbols.
    pub duration_ms: u64,
    pub mb_per_s: f64,
    /// When the text pass was committed: the workspace was searchable from then on.
    pub text_ms: u64,
    pub text_mb_per_s: f64,
    /// The symbol pass, when this run did one (files parsed and time taken).
    pub symbol_files: u64,
    pub symbols_ms: u64,
    /// Files still waiting for the symbol pass when this run returned.
    pub symbols_pending: u64,
}

/// What one symbol pass did.
#[derive(Debug, Clone, Default)]
pub(crate) struct SymbolPass {
    pub files: u64,
    pub symbols: u64,
    pub ms: u64,
}

/// What to look at in an update.
pub(crate) enum Scope {
    All,
    Paths(Vec<PathBuf>),
}

/// An open tantivy index and its reader; replaced whole when a damaged index is rebuilt.
pub(crate) struct Handle {
    pub index: Index,
    pub reader: IndexReader,
}

/// Where the background checksum verification of an opened index stands.
enum Check {
    Pending,
    Passed,
    /// Damaged: the reason; the next gate rebuilds.
    Failed(String),
}

/// The open index and the state around it.
pub(crate) struct Engine {
    handle: RwLock<Arc<Handle>>,
    pub f: Fields,
    pub rules: WalkRules,
    pub dir: PathBuf,
    pub manifest: RwLock<Manifest>,
    /// Why the index was rebuilt, if it was.
    rebuilt_reason: Mutex<Option<String>>,
    check: Arc<(Mutex<Check>, Condvar)>,
    /// One writer at a time in this process.
    update_lock: Mutex<Option<PathFilter>>,
    /// Updates reading more bytes than this commit text first and parse symbols after.
    text_first_over: u64,
}

impl Engine {
    /// Open the index in `dir`, or create it. A damaged index (unreadable metadata, failed
    /// checksums, another format version) is wiped and recreated empty, never served.
    ///
    /// Opening is quick; checksums are verified on a background thread, and the first query
    /// or update waits for that verdict ([`Engine::gate`]), so a server starts at once.
    pub fn open(dir: &Path, rules: WalkRules, text_first_over: u64) -> Result<Self, SearchError> {
        let (_, f) = schema();
        let mut rebuilt_reason = None;
        if dir.join("meta.json").exists() {
            match open_existing(dir) {
                Ok((index, reader, manifest)) => {
                    let check = Arc::new((Mutex::new(Check::Pending), Condvar::new()));
                    spawn_check(index.clone(), check.clone());
                    return Ok(Self {
                        handle: RwLock::new(Arc::new(Handle { index, reader })),
                        f,
                        rules,
                        dir: dir.to_path_buf(),
                        manifest: RwLock::new(manifest),
                        rebuilt_reason: Mutex::new(None),
                        check,
                        update_lock: Mutex::new(None),
                        text_first_over,
                    });
                }
                // A disk that cannot be read or written now (no permission, full) is not
                // damage: rebuilding would throw a good index away.
                Err(reason) if apex_core::files::DiskFault::in_message(&reason).is_some() => {
                    return Err(io_err(dir, std::io::Error::other(reason)));
                }
                Err(reason) => {
                    tracing::warn!(index = %dir.display(), %reason, "search index damaged; rebuilding");
                    rebuilt_reason = Some(reason);
                }
            }
        }
        let handle = create_fresh(dir)?;
        Ok(Self {
            handle: RwLock::new(Arc::new(handle)),
            f,
            rules,
            dir: dir.to_path_buf(),
            manifest: RwLock::new(Manifest::default()),
            rebuilt_reason: Mutex::new(rebuilt_reason),
            check: Arc::new((Mutex::new(Check::Passed), Condvar::new())),
            update_lock: Mutex::new(None),
            text_first_over,
        })
    }

    /// The current index and reader.
    pub fn handle(&self) -> Arc<Handle> {
        self.handle
            .read()
            .map(|h| h.clone())
            .unwrap_or_else(|p| p.into_inner().clone())
    }

    /// Why the index was rebuilt after damage, if it was.
    pub fn rebuilt_reason(&self) -> Option<String> {
        self.rebuilt_reason.lock().ok().and_then(|r| r.clone())
    }

    /// Wait for the checksum verdict of the index opened from disk; when it failed, replace
    /// the index with an empty one (the next `ensure_indexed` rebuilds it). Never lets a
    /// damaged index answer.
    pub fn gate(&self) -> Result<(), SearchError> {
        let (lock, cvar) = &*self.check;
        let mut state = lock.lock().map_err(|_| SearchError::Poisoned)?;
        while matches!(*state, Check::Pending) {
            state = cvar.wait(state).map_err(|_| SearchError::Poisoned)?;
        }
        let Check::Failed(reason) = &*state else {
            return Ok(());
        };
        let reason = reason.clone();
        tracing::warn!(index = %self.dir.display(), %reason, "search index damaged; rebuilding");
        let _writer = self.update_lock.lock().map_err(|_| SearchError::Poisoned)?;
        let fresh = create_fresh(&self.dir)?;
        if let Ok(mut h) = self.handle.write() {
            *h = Arc::new(fresh);
        }
        if let Ok(mut m) = self.manifest.write() {
            *m = Manifest::default();
        }
        if let Ok(mut r) = self.rebuilt_reason.lock() {
            *r = Some(reason);
        }
        *state = Check::Passed;
        Ok(())
    }

    /// True once a complete build was committed (and the index passed its checks).
    pub fn is_indexed(&self) -> bool {
        if self
            .check
            .0
            .lock()
            .map_or(true, |c| !matches!(*c, Check::Passed))
        {
            return false;
        }
        self.manifest
            .read()
            .map(|m| m.info.as_ref().is_some_and(|i| i.complete))
            .unwrap_or(false)
    }

    /// Build the index when it was never (completely) built. With `wait_symbols`, also
    /// finish the symbol pass (of this build or an earlier one) before returning.
    pub fn ensure_indexed(
        &self,
        wait_symbols: bool,
        sink: &dyn EventSink,
        cancel: &CancellationToken,
    ) -> Result<Option<IndexReport>, SearchError> {
        self.gate()?;
        let built = if self.is_indexed() {
            None
        } else {
            let mut guard = self.update_lock.lock().map_err(|_| SearchError::Poisoned)?;
            if self.is_indexed() {
                None
            } else {
                Some(self.update_locked(&mut guard, Scope::All, false, sink, cancel)?)
            }
        };
        match built {
            Some(report) => self.complete(report, wait_symbols, sink, cancel).map(Some),
            None => {
                if wait_symbols && self.symbols_pending() > 0 {
                    self.extract_symbols(sink, cancel)?;
                }
                Ok(None)
            }
        }
    }

    /// Bring the index up to date with the files in `scope`. `full` re-reads everything.
    /// With `wait_symbols`, a large update's symbol pass runs before this returns; without,
    /// it is left pending for the caller to run (in the background).
    pub fn update(
        &self,
        scope: Scope,
        full: bool,
        wait_symbols: bool,
        sink: &dyn EventSink,
        cancel: &CancellationToken,
    ) -> Result<IndexReport, SearchError> {
        self.gate()?;
        let report = {
            let mut guard = self.update_lock.lock().map_err(|_| SearchError::Poisoned)?;
            self.update_locked(&mut guard, scope, full, sink, cancel)?
        };
        self.complete(report, wait_symbols, sink, cancel)
    }

    /// After the text pass (and the update lock): the symbol pass when asked for, then the
    /// closing event.
    fn complete(
        &self,
        mut report: IndexReport,
        wait_symbols: bool,
        sink: &dyn EventSink,
        cancel: &CancellationToken,
    ) -> Result<IndexReport, SearchError> {
        if wait_symbols && self.symbols_pending() > 0 {
            let pass = match self.extract_symbols(sink, cancel) {
                Ok(pass) => pass,
                Err(e) => {
                    report.symbols_pending = self.symbols_pending();
                    self.finish_event(sink, &report);
                    return Err(e);
                }
            };
            report.symbol_files = pass.files;
            report.symbols_ms = pass.ms;
            report.symbols_indexed += pass.symbols;
            report.duration_ms = report.text_ms + pass.ms;
            report.mb_per_s = mb_per_s(report.bytes_indexed, report.duration_ms);
        }
        report.symbols_pending = self.symbols_pending();
        self.finish_event(sink, &report);
        Ok(report)
    }

    fn update_locked(
        &self,
        filter: &mut Option<PathFilter>,
        scope: Scope,
        full: bool,
        sink: &dyn EventSink,
        cancel: &CancellationToken,
    ) -> Result<IndexReport, SearchError> {
        let started = Instant::now();
        let run_id = apex_core::events::new_run_id("index");
        let (candidates, removed, skipped_large, skipped_symlinks, whole_tree) = match scope {
            Scope::All => {
                let walked = self.rules.walk();
                *filter = None; // ignore files may have changed: judge paths afresh
                let live: HashSet<&str> = walked.files.iter().map(|f| f.rel.as_str()).collect();
                let removed: Vec<String> = self
                    .manifest
                    .read()
                    .map_err(|_| SearchError::Poisoned)?
                    .files
                    .keys()
                    .filter(|k| !live.contains(k.as_str()))
                    .cloned()
                    .collect();
                (
                    walked.files,
                    removed,
                    walked.skipped_large,
                    walked.skipped_symlinks,
                    true,
                )
            }
            Scope::Paths(paths) => {
                let filter = filter.get_or_insert_with(|| self.rules.path_filter());
                let (c, r) = self.judge_paths(filter, &paths)?;
                (c, r, 0, 0, false)
            }
        };
        let mut report = IndexReport {
            run_id,
            mode: if full { "full" } else { "incremental" }.into(),
            scanned: candidates.len() as u64,
            skipped_large,
            ..IndexReport::default()
        };

        // Which files need reading: new ones, and ones whose mtime or size moved.
        let (changed, prior): (Vec<WalkedFile>, HashMap<String, FileMeta>) = {
            let m = self.manifest.read().map_err(|_| SearchError::Poisoned)?;
            let mut prior = HashMap::new();
            let changed = candidates
                .into_iter()
                .filter(|c| match m.files.get(&c.rel) {
                    Some(meta) => {
                        let moved = meta.mtime_ns != c.mtime_ns || meta.size != c.size;
                        if moved || full {
                            prior.insert(c.rel.clone(), meta.clone());
                        }
                        moved || full
                    }
                    None => true,
                })
                .collect();
            (changed, prior)
        };
        let total = changed.len() as u64;
        let total_bytes: u64 = changed.iter().map(|c| c.size).sum();
        let batches = batches(&changed);
        sink.expect_total(batches.len() as u64 + 2);
        sink.emit(
            "index_started",
            json!({
                "mode": report.mode, "files": report.scanned,
                "to_read": total, "bytes": total_bytes, "to_remove": removed.len(),
                "message": format!("{} files to read ({} MB), {} to remove", total, total_bytes >> 20, removed.len()),
            }),
        );

        let never_committed = self
            .manifest
            .read()
            .map_err(|_| SearchError::Poisoned)?
            .info
            .is_none();
        if changed.is_empty() && removed.is_empty() && !full && !never_committed {
            report.duration_ms = started.elapsed().as_millis() as u64;
            report.text_ms = report.duration_ms;
            return Ok(report);
        }

        let handle = self.handle();
        let text_first = total_bytes > self.text_first_over;
        let mut writer = self.writer(&handle.index, total_bytes, !text_first)?;
        if full {
            // Deletes apply to documents added before them, so the new ones survive.
            // (`delete_all_documents` would also drop what this run adds.)
            writer.delete_term(Term::from_field_text(self.f.kind, KIND_FILE));
            writer.delete_term(Term::from_field_text(self.f.kind, KIND_SYMBOL));
        }
        for rel in &removed {
            writer.delete_term(Term::from_field_text(self.f.path, rel));
        }

        let mut updates: Vec<(String, Option<FileMeta>)> = Vec::new();
        let mut done = 0u64;
        let mut done_bytes = 0u64;
        let mut cancelled = false;
        for batch in batches {
            if cancel.is_cancelled() {
                cancelled = true;
                break;
            }
            let results: Vec<(String, Prepared)> = batch
                .par_iter()
                .map(|file| {
                    // A full rebuild re-reads everything, same content or not.
                    let known = if full { None } else { prior.get(&file.rel) };
                    let p = self.prepare(file, known, &writer, text_first);
                    (file.rel.clone(), p)
                })
                .collect();
            for (rel, p) in results {
                match p {
                    Prepared::Indexed(meta, is_binary) => {
                        if is_binary {
                            report.skipped_binary += 1;
                        } else {
                            report.bytes_indexed += meta.size;
                            report.symbols_indexed += meta.symbols.unwrap_or(0) as u64;
                        }
                        if prior.contains_key(&rel) {
                            report.updated += 1;
                        } else {
                            report.added += 1;
                        }
                        updates.push((rel, Some(meta)));
                    }
                    Prepared::SameContent(meta) => {
                        report.unchanged_content += 1;
                        updates.push((rel, Some(meta)));
                    }
                    Prepared::Unreadable => {
                        if prior.contains_key(&rel) {
                            writer.delete_term(Term::from_field_text(self.f.path, &rel));
                            report.removed += 1;
                            updates.push((rel, None));
                        }
                    }
                }
            }
            done += batch.len() as u64;
            done_bytes += batch.iter().map(|f| f.size).sum::<u64>();
            sink.emit(
                "files_indexed",
                json!({"done": done, "total": total, "bytes": done_bytes,
                       "message": format!("{done}/{total} files")}),
            );
        }

        let info = CommitInfo {
            last_update: apex_core::events::now_ts(),
            skipped_large,
            skipped_symlinks,
            complete: if whole_tree {
                !cancelled
            } else {
                self.manifest
                    .read()
                    .map_err(|_| SearchError::Poisoned)?
                    .info
                    .as_ref()
                    .is_some_and(|i| i.complete)
            },
        };
        let info = if whole_tree {
            info
        } else {
            // A partial update keeps the counts of the last whole walk.
            let m = self.manifest.read().map_err(|_| SearchError::Poisoned)?;
            match &m.info {
                Some(prev) => CommitInfo {
                    skipped_large: prev.skipped_large,
                    skipped_symlinks: prev.skipped_symlinks,
                    ..info
                },
                None => info,
            }
        };
        let payload = serde_json::to_string(&info).unwrap_or_default();
        let mut prepared = writer.prepare_commit()?;
        prepared.set_payload(&payload);
        prepared.commit()?;
        writer.wait_merging_threads()?;
        handle.reader.reload()?;

        {
            let mut m = self.manifest.write().map_err(|_| SearchError::Poisoned)?;
            if full {
                m.files.clear();
            }
            for rel in &removed {
                m.files.remove(rel);
            }
            for (rel, meta) in updates {
                match meta {
                    Some(meta) => {
                        m.files.insert(rel, meta);
                    }
                    None => {
                        m.files.remove(&rel);
                    }
                }
            }
            m.info = Some(info);
            m.recount();
        }
        report.removed += removed.len() as u64;
        report.duration_ms = started.elapsed().as_millis() as u64;
        report.mb_per_s = mb_per_s(report.bytes_indexed, report.duration_ms);
        report.text_ms = report.duration_ms;
        report.text_mb_per_s = report.mb_per_s;
        report.symbols_pending = self.symbols_pending();
        if cancelled {
            self.finish_event(sink, &report);
            return Err(SearchError::Cancelled {
                indexed: report.added + report.updated,
            });
        }
        Ok(report)
    }

    fn finish_event(&self, sink: &dyn EventSink, report: &IndexReport) {
        let (files, symbols) = self
            .manifest
            .read()
            .map(|m| {
                m.files
                    .values()
                    .filter(|f| f.lang != BINARY)
                    .fold((0u64, 0u64), |(n, s), f| {
                        (n + 1, s + f.symbols.unwrap_or(0) as u64)
                    })
            })
            .unwrap_or_default();
        let mut data = serde_json::to_value(report).unwrap_or_else(|_| json!({}));
        if let Some(o) = data.as_object_mut() {
            // The sink's run id is the one that counts; the report's own is for direct callers.
            o.remove("run_id");
            o.insert("files".into(), json!(files));
            o.insert("symbols".into(), json!(symbols));
            o.insert(
                "message".into(),
                json!(format!(
                    "{} added, {} updated, {} removed in {} ms",
                    report.added, report.updated, report.removed, report.duration_ms
                )),
            );
        }
        sink.emit("index_finished", data);
    }

    /// A writer sized for `bytes` of input. Without `merge` it never merges segments: the
    /// passes of a large update would otherwise merge the fresh text segments (few documents,
    /// big postings) again with every small symbol batch, as tantivy's log merge policy sizes
    /// segments by document count.
    fn writer(&self, index: &Index, bytes: u64, merge: bool) -> Result<IndexWriter, SearchError> {
        let (threads, heap) = if bytes > LARGE_UPDATE {
            let cpus = std::thread::available_parallelism().map_or(2, |n| n.get());
            (cpus.clamp(1, 4), LARGE_HEAP)
        } else {
            (1, SMALL_HEAP)
        };
        match index.writer_with_num_threads(threads, heap) {
            Ok(w) => {
                if !merge {
                    w.set_merge_policy(Box::new(NoMergePolicy));
                }
                Ok(w)
            }
            Err(tantivy::TantivyError::LockFailure(..)) => Err(SearchError::Locked),
            Err(e) => Err(e.into()),
        }
    }

    /// Turn reported paths into files to check and index entries to drop.
    fn judge_paths(
        &self,
        filter: &mut PathFilter,
        paths: &[PathBuf],
    ) -> Result<(Vec<WalkedFile>, Vec<String>), SearchError> {
        let m = self.manifest.read().map_err(|_| SearchError::Poisoned)?;
        let mut files: BTreeMap<String, WalkedFile> = BTreeMap::new();
        let mut removed: HashSet<String> = HashSet::new();
        let root = self.rules.root();
        for path in paths {
            let rel = super::walk::relative(root, path);
            match filter.judge(path) {
                PathVerdict::File(f) => {
                    files.insert(f.rel.clone(), f);
                }
                PathVerdict::Dir(dir) => {
                    let walked = self.rules.walk_from(&dir);
                    let live: HashSet<&str> = walked.files.iter().map(|f| f.rel.as_str()).collect();
                    let prefix = format!("{rel}/");
                    removed.extend(
                        m.files
                            .keys()
                            .filter(|k| k.starts_with(&prefix) && !live.contains(k.as_str()))
                            .cloned(),
                    );
                    for f in walked.files {
                        files.insert(f.rel.clone(), f);
                    }
                }
                PathVerdict::TooLarge | PathVerdict::Ignored => {
                    if m.files.contains_key(&rel) {
                        removed.insert(rel);
                    }
                }
                PathVerdict::Gone => {
                    let prefix = format!("{rel}/");
                    removed.extend(
                        m.files
                            .keys()
                            .filter(|k| **k == rel || k.starts_with(&prefix))
                            .cloned(),
                    );
                }
            }
        }
        for rel in files.keys() {
            removed.remove(rel);
        }
        let mut removed: Vec<String> = removed.into_iter().collect();
        removed.sort();
        Ok((files.into_values().collect(), removed))
    }

    /// Read one file and hand its documents to the writer.
    fn prepare(
        &self,
        file: &WalkedFile,
        prior: Option<&FileMeta>,
        writer: &IndexWriter,
        text_first: bool,
    ) -> Prepared {
        let Ok(bytes) = std::fs::read(&file.abs) else {
            return Prepared::Unreadable;
        };
        if bytes.len() as u64 > self.rules.max_file_size() {
            return Prepared::Unreadable;
        }
        let hash = xxhash_rust::xxh3::xxh3_64(&bytes);
        let size = bytes.len() as u64;
        if let Some(p) = prior
            && p.hash == hash
            && p.size == size
        {
            return Prepared::SameContent(FileMeta {
                mtime_ns: file.mtime_ns,
                ..p.clone()
            });
        }
        let f = &self.f;
        let path_term = Term::from_field_text(f.path, &file.rel);
        writer.delete_term(path_term);
        let probe = &bytes[..bytes.len().min(BINARY_PROBE)];
        if probe.contains(&0) {
            let meta = FileMeta {
                mtime_ns: file.mtime_ns,
                size,
                hash,
                lang: BINARY.into(),
                symbols: Some(0),
            };
            let _ = writer.add_document(doc!(
                f.kind => KIND_FILE, f.path => file.rel.as_str(), f.path_hash => path_hash(&file.rel),
                f.lang => BINARY, f.mtime => meta.mtime_ns, f.size => size, f.hash => hash, f.nsym => 0u64,
            ));
            return Prepared::Indexed(meta, true);
        }
        let text = match String::from_utf8(bytes) {
            Ok(s) => s,
            Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
        };
        let path = Path::new(&file.rel);
        let grammar = symbols::language_for_source(path, &text);
        let lang = grammar
            .map(|l| l.name())
            .unwrap_or_else(|| language_label(path));
        let ph = path_hash(&file.rel);
        let symbols = match grammar {
            Some(_) if text_first && size <= MAX_SYMBOL_FILE_SIZE => None,
            Some(l) if size <= MAX_SYMBOL_FILE_SIZE => {
                let syms = symbols::extract(l, &text);
                self.add_symbols(writer, &file.rel, ph, lang, hash, &syms);
                Some(syms.len() as u32)
            }
            _ => Some(0),
        };
        let meta = FileMeta {
            mtime_ns: file.mtime_ns,
            size,
            hash,
            lang: lang.to_string(),
            symbols,
        };
        let _ = writer.add_document(doc!(
            f.kind => KIND_FILE, f.path => file.rel.as_str(), f.path_hash => ph,
            f.path_text => file.rel.as_str(), f.lang => lang, f.content => text,
            f.mtime => meta.mtime_ns, f.size => size, f.hash => hash,
        ));
        Prepared::Indexed(meta, false)
    }

    /// The symbol and spans documents of one parsed file.
    fn add_symbols(
        &self,
        writer: &IndexWriter,
        rel: &str,
        ph: u64,
        lang: &str,
        hash: u64,
        syms: &[Symbol],
    ) {
        let f = &self.f;
        for s in syms {
            let _ = writer.add_document(self.symbol_doc(rel, ph, lang, s));
        }
        let _ = writer.add_document(doc!(
            f.kind => KIND_SPANS, f.path => rel, f.path_hash => ph, f.lang => lang,
            f.sym_hash => hash, f.nsym => syms.len() as u64, f.spans => encode_spans(syms),
        ));
    }

    /// Files waiting for the symbol pass.
    pub fn symbols_pending(&self) -> u64 {
        self.manifest.read().map(|m| m.pending).unwrap_or(0)
    }

    /// Parse every pending file for symbols, in committed batches that each take the update
    /// lock, so watched edits and other updates interleave, and several passes (a background
    /// one and a caller that waits for symbols) share the work instead of repeating it.
    /// Returns when no file is pending. A file whose content changed since its text was
    /// indexed is re-indexed whole; a vanished one is dropped.
    pub fn extract_symbols(
        &self,
        sink: &dyn EventSink,
        cancel: &CancellationToken,
    ) -> Result<SymbolPass, SearchError> {
        self.gate()?;
        let started = Instant::now();
        let mut pass = SymbolPass::default();
        let total = self.symbols_pending();
        let mut done = 0u64;
        // The segments this pass committed, merged into one at its end.
        let mut fresh: Vec<SegmentId> = Vec::new();
        if total > 0 {
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
                json!({"files": total, "message": format!("{total} files to parse for symbols")}),
            );
        }
        loop {
            if cancel.is_cancelled() {
                return Err(SearchError::Cancelled { indexed: done });
            }
            let guard = self.update_lock.lock().map_err(|_| SearchError::Poisoned)?;
            let batch: Vec<(String, FileMeta)> = {
                let m = self.manifest.read().map_err(|_| SearchError::Poisoned)?;
                let mut pending: Vec<(&String, &FileMeta)> = m
                    .files
                    .iter()
                    .filter(|(_, f)| f.symbols_pending())
                    .collect();
                pending.sort_unstable_by(|a, b| a.0.cmp(b.0));
                let mut bytes = 0u64;
                pending
                    .into_iter()
                    .take_while(|(_, f)| {
                        let take = bytes < SYMBOL_BATCH_BYTES;
                        bytes += f.size;
                        take
                    })
                    .take(SYMBOL_BATCH_FILES)
                    .map(|(r, f)| (r.clone(), f.clone()))
                    .collect()
            };
            if batch.is_empty() {
                drop(guard);
                self.merge_segments(&fresh)?;
                if done < total {
                    // Another pass (a background one) parsed the rest.
                    sink.emit(
                        "symbols_extracted",
                        json!({"done": total, "total": total, "symbols": pass.symbols,
                               "message": format!("{total}/{total} files parsed for symbols")}),
                    );
                }
                break;
            }
            let handle = self.handle();
            let before: HashSet<SegmentId> =
                handle.index.searchable_segment_ids()?.into_iter().collect();
            let mut writer = self.writer(&handle.index, 0, false)?;
            let root = self.rules.root();
            let results: Vec<(String, Prepared)> = batch
                .par_iter()
                .map(|(rel, meta)| {
                    let p = self.parse_pending(root, rel, meta, &writer);
                    (rel.clone(), p)
                })
                .collect();
            let mut prepared = writer.prepare_commit()?;
            let info = self
                .manifest
                .read()
                .map_err(|_| SearchError::Poisoned)?
                .info
                .clone();
            if let Some(info) = &info {
                prepared.set_payload(&serde_json::to_string(info).unwrap_or_default());
            }
            prepared.commit()?;
            writer.wait_merging_threads()?;
            handle.reader.reload()?;
            fresh.extend(
                handle
                    .index
                    .searchable_segment_ids()?
                    .into_iter()
                    .filter(|id| !before.contains(id)),
            );
            {
                let mut m = self.manifest.write().map_err(|_| SearchError::Poisoned)?;
                for (rel, p) in results {
                    match p {
                        Prepared::Indexed(meta, _) | Prepared::SameContent(meta) => {
                            pass.symbols += meta.symbols.unwrap_or(0) as u64;
                            m.files.insert(rel, meta);
                        }
                        Prepared::Unreadable => {
                            m.files.remove(&rel);
                        }
                    }
                }
                m.recount();
            }
            drop(guard);
            done += batch.len() as u64;
            pass.files += batch.len() as u64;
            sink.emit(
                "symbols_extracted",
                json!({"done": done, "total": total.max(done), "symbols": pass.symbols,
                       "message": format!("{done}/{} files parsed for symbols", total.max(done))}),
            );
        }
        pass.ms = started.elapsed().as_millis() as u64;
        Ok(pass)
    }

    /// Merge the given segments (those still live) into one.
    fn merge_segments(&self, ids: &[SegmentId]) -> Result<(), SearchError> {
        let _guard = self.update_lock.lock().map_err(|_| SearchError::Poisoned)?;
        let handle = self.handle();
        let live: HashSet<SegmentId> = handle.index.searchable_segment_ids()?.into_iter().collect();
        let ids: Vec<SegmentId> = ids.iter().filter(|id| live.contains(id)).copied().collect();
        if ids.len() < 2 {
            return Ok(());
        }
        let mut writer = self.writer(&handle.index, 0, false)?;
        writer.merge(&ids).wait()?;
        writer.wait_merging_threads()?;
        handle.reader.reload()?;
        Ok(())
    }

    /// Parse one pending file (its symbols only, when its content is what was indexed).
    fn parse_pending(
        &self,
        root: &Path,
        rel: &str,
        meta: &FileMeta,
        writer: &IndexWriter,
    ) -> Prepared {
        let abs = root.join(rel);
        let Ok(bytes) = std::fs::read(&abs) else {
            writer.delete_term(Term::from_field_text(self.f.path, rel));
            return Prepared::Unreadable;
        };
        let hash = xxhash_rust::xxh3::xxh3_64(&bytes);
        if hash != meta.hash || bytes.len() as u64 != meta.size {
            // Changed since the text pass: index it again, whole.
            let file = WalkedFile {
                rel: rel.to_string(),
                abs,
                size: bytes.len() as u64,
                mtime_ns: meta.mtime_ns,
            };
            drop(bytes);
            return self.prepare(&file, None, writer, false);
        }
        let text = match String::from_utf8(bytes) {
            Ok(s) => s,
            Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
        };
        let syms = symbols::Language::from_name(&meta.lang)
            .map(|l| symbols::extract(l, &text))
            .unwrap_or_default();
        self.add_symbols(writer, rel, path_hash(rel), &meta.lang, hash, &syms);
        Prepared::SameContent(FileMeta {
            symbols: Some(syms.len() as u32),
            ..meta.clone()
        })
    }

    fn symbol_doc(&self, rel: &str, ph: u64, lang: &str, s: &Symbol) -> TantivyDocument {
        let f = &self.f;
        let mut d = doc!(
            f.kind => KIND_SYMBOL, f.path => rel, f.path_hash => ph, f.lang => lang,
            f.name => s.name.as_str(), f.name_exact => super::tokenizer::lower(&s.name),
            f.sym_kind => s.kind.name(), f.signature => s.signature.as_str(),
            f.line => s.line as u64, f.end_line => s.end_line as u64,
        );
        match &s.container {
            Some(c) => {
                d.add_text(f.container, c);
                d.add_text(f.container_exact, super::tokenizer::lower(c));
            }
            None => d.add_text(f.container_exact, NO_CONTAINER),
        }
        d
    }

    /// Index size on disk, in bytes.
    pub fn size_on_disk(&self) -> u64 {
        std::fs::read_dir(&self.dir)
            .map(|rd| {
                rd.filter_map(Result::ok)
                    .filter_map(|e| e.metadata().ok())
                    .filter(|m| m.is_file())
                    .map(|m| m.len())
                    .sum()
            })
            .unwrap_or(0)
    }
}

enum Prepared {
    /// New or changed: documents were added. The flag says the file is binary.
    Indexed(FileMeta, bool),
    /// Touched but identical: only the mtime moves.
    SameContent(FileMeta),
    /// Vanished or grew past the limit between the walk and the read.
    Unreadable,
}

fn mb_per_s(bytes: u64, ms: u64) -> f64 {
    let secs = (ms as f64 / 1000.0).max(1e-3);
    ((bytes as f64 / 1e6 / secs) * 10.0).round() / 10.0
}

fn batches(files: &[WalkedFile]) -> Vec<&[WalkedFile]> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut bytes = 0u64;
    for (i, f) in files.iter().enumerate() {
        bytes += f.size;
        if i + 1 - start >= BATCH_FILES || bytes >= BATCH_BYTES {
            out.push(&files[start..=i]);
            start = i + 1;
            bytes = 0;
        }
    }
    if start < files.len() {
        out.push(&files[start..]);
    }
    out
}

/// Symbols of a file as stored with its document: `kind \t name \t line \t end_line` lines.
pub(crate) fn encode_spans(syms: &[Symbol]) -> String {
    let mut s = String::new();
    for sym in syms {
        s.push_str(sym.kind.name());
        s.push('\t');
        s.push_str(&sym.name);
        s.push('\t');
        s.push_str(&sym.line.to_string());
        s.push('\t');
        s.push_str(&sym.end_line.to_string());
        s.push('\n');
    }
    s
}

/// One stored span: name, line, end_line.
pub(crate) fn decode_spans(text: &str) -> Vec<(&str, u32, u32)> {
    text.lines()
        .filter_map(|l| {
            let mut it = l.split('\t');
            let _kind = it.next()?;
            let name = it.next()?;
            let line = it.next()?.parse().ok()?;
            let end = it.next()?.parse().ok()?;
            Some((name, line, end))
        })
        .collect()
}

/// A language label for files without a symbol grammar (used by filters and statistics).
pub fn language_label(path: &Path) -> &'static str {
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default();
    match name {
        "Makefile" | "makefile" | "GNUmakefile" => return "make",
        "Dockerfile" => return "dockerfile",
        "CMakeLists.txt" => return "cmake",
        _ => {}
    }
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(|e| e.to_ascii_lowercase())
        .unwrap_or_default();
    match ext.as_str() {
        "md" | "markdown" | "mdx" => "markdown",
        "toml" => "toml",
        "json" | "jsonc" => "json",
        "yaml" | "yml" => "yaml",
        "sh" | "bash" | "zsh" => "shell",
        "html" | "htm" => "html",
        "css" | "scss" | "less" => "css",
        "sql" => "sql",
        "rb" => "ruby",
        "php" => "php",
        "kt" | "kts" => "kotlin",
        "swift" => "swift",
        "cs" => "csharp",
        "scala" => "scala",
        "lua" => "lua",
        "xml" => "xml",
        "proto" => "protobuf",
        "txt" | "rst" | "adoc" => "text",
        "cmake" => "cmake",
        _ => "other",
    }
}

fn io_err(path: &Path, source: std::io::Error) -> SearchError {
    SearchError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// A new, empty index in `dir` (whatever was there is removed).
fn create_fresh(dir: &Path) -> Result<Handle, SearchError> {
    let (schema, _) = schema();
    if dir.exists() {
        std::fs::remove_dir_all(dir).map_err(|e| io_err(dir, e))?;
    }
    std::fs::create_dir_all(dir).map_err(|e| io_err(dir, e))?;
    let index = Index::create_in_dir(dir, schema)?;
    apex_core::files::write_durable(&dir.join(VERSION_FILE), INDEX_VERSION.as_bytes())
        .map_err(|e| io_err(dir, e))?;
    index.tokenizers().register(CODE_TOKENIZER, CodeTokenizer);
    let reader = index
        .reader_builder()
        .reload_policy(ReloadPolicy::Manual)
        .try_into()?;
    Ok(Handle { index, reader })
}

/// Verify every index file's checksum on a background thread and record the verdict.
fn spawn_check(index: Index, check: Arc<(Mutex<Check>, Condvar)>) {
    let run = move || {
        let verdict = match index.validate_checksum() {
            Ok(damaged) if damaged.is_empty() => Check::Passed,
            Ok(damaged) => {
                let mut names: Vec<String> =
                    damaged.iter().map(|p| p.display().to_string()).collect();
                names.sort();
                Check::Failed(format!("checksum mismatch in {}", names.join(", ")))
            }
            Err(e) => Check::Failed(format!("cannot verify checksums: {e}")),
        };
        let (lock, cvar) = &*check;
        if let Ok(mut state) = lock.lock() {
            *state = verdict;
        }
        cvar.notify_all();
    };
    let fallback = run.clone();
    if std::thread::Builder::new()
        .name("search-check".into())
        .spawn(run)
        .is_err()
    {
        fallback();
    }
}

/// Open an index that exists on disk, checking that it is ours and readable. Checksums are
/// verified separately ([`spawn_check`]).
fn open_existing(dir: &Path) -> Result<(Index, IndexReader, Manifest), String> {
    let version = std::fs::read_to_string(dir.join(VERSION_FILE)).unwrap_or_default();
    if version.trim() != INDEX_VERSION {
        return Err(format!(
            "index format `{}` is not `{INDEX_VERSION}`",
            version.trim()
        ));
    }
    let index = Index::open_in_dir(dir).map_err(|e| format!("cannot open: {e}"))?;
    index.tokenizers().register(CODE_TOKENIZER, CodeTokenizer);
    let reader: IndexReader = index
        .reader_builder()
        .reload_policy(ReloadPolicy::Manual)
        .try_into()
        .map_err(|e| format!("cannot read: {e}"))?;
    let mut manifest = load_manifest(&reader).map_err(|e| format!("cannot read files: {e}"))?;
    let metas = index.load_metas().map_err(|e| format!("{e}"))?;
    manifest.info = metas
        .payload
        .as_deref()
        .and_then(|p| serde_json::from_str(p).ok());
    Ok((index, reader, manifest))
}

fn load_manifest(reader: &IndexReader) -> tantivy::Result<Manifest> {
    let searcher = reader.searcher();
    let mut files = HashMap::new();
    // Path -> (content hash the symbols were extracted from, how many).
    let mut parsed: HashMap<String, (u64, u32)> = HashMap::new();
    let mut path = String::new();
    let mut lang = String::new();
    for seg in searcher.segment_readers() {
        let ff = seg.fast_fields();
        let hash = ff.u64("hash")?;
        let sym_hash = ff.u64("sym_hash")?;
        let mtime = ff.u64("mtime")?;
        let size = ff.u64("size")?;
        let nsym = ff.u64("nsym")?;
        let (Some(paths), Some(langs)) = (ff.str("path")?, ff.str("lang")?) else {
            continue;
        };
        let alive = seg.alive_bitset();
        for doc in 0..seg.max_doc() {
            if alive.is_some_and(|a| !a.is_alive(doc)) {
                continue;
            }
            let (file_hash, spans_hash) = (hash.first(doc), sym_hash.first(doc));
            if file_hash.is_none() && spans_hash.is_none() {
                continue; // a symbol document
            }
            path.clear();
            lang.clear();
            if let Some(ord) = paths.term_ords(doc).next() {
                paths.ord_to_str(ord, &mut path)?;
            }
            if let Some(h) = spans_hash {
                let n = nsym.first(doc).unwrap_or(0) as u32;
                parsed.insert(path.clone(), (h, n));
                continue;
            }
            let Some(h) = file_hash else {
                continue;
            };
            if let Some(ord) = langs.term_ords(doc).next() {
                langs.ord_to_str(ord, &mut lang)?;
            }
            files.insert(
                path.clone(),
                FileMeta {
                    mtime_ns: mtime.first(doc).unwrap_or(0),
                    size: size.first(doc).unwrap_or(0),
                    hash: h,
                    lang: lang.clone(),
                    symbols: Some(0),
                },
            );
        }
    }
    // A file is parsed when a spans document for its current content exists; a parsable
    // file without one waits for the symbol pass.
    for (rel, meta) in files.iter_mut() {
        meta.symbols = match parsed.get(rel) {
            Some(&(h, n)) if h == meta.hash => Some(n),
            _ if meta.lang != BINARY && parsable(&meta.lang, meta.size) => None,
            _ => Some(0),
        };
    }
    let mut manifest = Manifest {
        files,
        info: None,
        pending: 0,
    };
    manifest.recount();
    Ok(manifest)
}
