//! The tantivy index in `<data-dir>/index/`: its schema, opening (with damage detection and
//! rebuild), and incremental updates.
//!
//! Three kinds of documents live in one index: a *file* document per indexed file (content,
//! path, language, and the mtime/size/hash that make updates incremental), a *symbol*
//! document per definition, and a *spans* document per parsed file (its definitions' line
//! spans, and the content hash they were extracted from). The manifest of indexed files is
//! read back from fast fields at open, so the index alone is the truth; nothing else on disk
//! has to agree with it. Queries live in `query`; this module only writes and hands out
//! searchers. The schema is in `schema`, the manifest in `manifest`, opening and the damage
//! check in `storage`, and the two passes of an update in `text_pass` and `symbol_pass`.
//!
//! A large update runs in two passes: the text pass reads, tokenizes and commits every file
//! (the workspace is searchable from then on), then the symbol pass parses the files with
//! tree-sitter and adds their symbol and spans documents in small committed batches. Parsing
//! is most of the cost of a build (tree-sitter reads ~8 MB per CPU-second; tantivy indexes
//! ~25), so text search does not wait for it. Files over [`LARGE_SYMBOL_FILE`] always wait
//! for the symbol pass, which parses them after the others, in batches of their own. A file
//! without a spans document for its current hash is *pending*: the manifest knows it after a
//! restart too, so a build killed between the passes finishes its symbols on the next run.
//!
//! The symbol pass parses outside the update lock and takes it only to commit what it parsed;
//! while it runs, every update shares one writer with it (see [`Updater`]), so a watched edit
//! waits for at most one small commit.

mod manifest;
mod origin;
mod schema;
mod storage;
mod symbol_pass;
mod text_pass;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, RwLock};

use serde::{Deserialize, Serialize};
use serde_json::json;
use tantivy::indexer::NoMergePolicy;
use tantivy::{Index, IndexReader, IndexWriter};
use tokio_util::sync::CancellationToken;

use crate::SearchError;
use crate::walk::{PathFilter, WalkRules};
use apex_core::events::EventSink;
use manifest::Manifest;
use storage::{Check, create_fresh, io_err, open_existing, spawn_check};

pub(crate) use manifest::distinct_strings;
#[cfg(test)]
pub(crate) use schema::KIND_SYMBOL;
pub(crate) use schema::{
    Fields, KIND_SPANS, RANK_DECLARATION, RANK_FREE, RANK_HAND, RANK_NOT_TEST, decode_spans,
    path_hash,
};
pub use text_pass::language_label;

/// Writer heap for large updates (all threads together) and for small ones.
const LARGE_HEAP: usize = 192 << 20;
const SMALL_HEAP: usize = 32 << 20;
/// Updates over this many bytes use the multi-threaded writer.
const LARGE_UPDATE: u64 = 16 << 20;
/// Files larger than this are never parsed inline by the text pass: their symbols are left
/// to the symbol pass, which parses them last, in batches of their own (a 1 MB file takes
/// ~100 ms of tree-sitter). Generated and vendored code among them ranks below hand-written
/// code ([`origin`]); nothing is left out.
pub const LARGE_SYMBOL_FILE: u64 = 256 << 10;
/// The language label of files skipped as binary; they stay in the manifest so that they
/// are not read again while unchanged.
pub const BINARY: &str = "binary";

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
    /// The symbol pass, when this run did one: files and bytes parsed, time until their
    /// symbols were all searchable, and the merge of its segments after that.
    pub symbol_files: u64,
    #[serde(default)]
    pub symbol_bytes: u64,
    pub symbols_ms: u64,
    #[serde(default)]
    pub symbols_merge_ms: u64,
    /// Files still waiting for the symbol pass when this run returned.
    pub symbols_pending: u64,
}

/// What one symbol pass did.
#[derive(Debug, Clone, Default)]
pub(crate) struct SymbolPass {
    pub files: u64,
    /// Bytes of the files parsed.
    pub bytes: u64,
    pub symbols: u64,
    /// Until the last symbols were committed (searchable).
    pub ms: u64,
    /// Merging the pass's segments after that (searching works meanwhile).
    pub merge_ms: u64,
}

/// What to look at in an update.
pub(crate) enum Scope {
    All,
    Paths(Vec<PathBuf>),
}

/// What the update lock guards.
#[derive(Default)]
pub(crate) struct Updater {
    /// Ignore rules for the paths a watcher reports, cached between updates.
    filter: Option<PathFilter>,
    /// The writer shared by every update while a symbol pass runs. Otherwise each update
    /// opens a writer and closes it when done (other processes may write in between).
    writer: Option<IndexWriter>,
    /// Set while a symbol pass runs: the shared writer stays open, and merges of the pass's
    /// segments run on it in the background.
    pass_active: bool,
}

/// An open tantivy index and its reader; replaced whole when a damaged index is rebuilt.
pub(crate) struct Handle {
    pub index: Index,
    pub reader: IndexReader,
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
    update_lock: Mutex<Updater>,
    /// Updates (a saved file, a re-index) waiting for the update lock: the symbol pass lets
    /// them go first between its commits, so an edit waits for one commit of the pass at
    /// most (the lock is not fair: the pass, committing chunk after chunk, could take it
    /// again and again while an edit waits).
    updates_waiting: AtomicUsize,
    /// One symbol pass at a time; a second caller waits for the running one.
    symbol_turn: Mutex<()>,
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
        let (_, f) = schema::schema();
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
                        update_lock: Mutex::new(Updater::default()),
                        updates_waiting: AtomicUsize::new(0),
                        symbol_turn: Mutex::new(()),
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
            update_lock: Mutex::new(Updater::default()),
            updates_waiting: AtomicUsize::new(0),
            symbol_turn: Mutex::new(()),
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
        let mut up = self.update_lock.lock().map_err(|_| SearchError::Poisoned)?;
        up.writer = None; // it wrote the damaged index
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
            let mut guard = self.lock_for_update()?;
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

    /// The update lock for an update, which a running symbol pass lets go first.
    fn lock_for_update(&self) -> Result<MutexGuard<'_, Updater>, SearchError> {
        self.updates_waiting.fetch_add(1, Ordering::SeqCst);
        let guard = self.update_lock.lock();
        self.updates_waiting.fetch_sub(1, Ordering::SeqCst);
        guard.map_err(|_| SearchError::Poisoned)
    }

    /// Before the symbol pass takes the update lock for its next commit: let waiting updates
    /// go first (up to half a second, so that a stream of saves cannot stall the pass).
    pub(super) fn yield_to_updates(&self) {
        let started = std::time::Instant::now();
        while self.updates_waiting.load(Ordering::SeqCst) > 0
            && started.elapsed() < std::time::Duration::from_millis(500)
        {
            std::thread::sleep(std::time::Duration::from_millis(1));
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
            let mut guard = self.lock_for_update()?;
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
            report.symbol_bytes = pass.bytes;
            report.symbols_ms = pass.ms;
            report.symbols_merge_ms = pass.merge_ms;
            report.symbols_indexed += pass.symbols;
            report.duration_ms = report.text_ms + pass.ms + pass.merge_ms;
            report.mb_per_s = mb_per_s(report.bytes_indexed, report.duration_ms);
        }
        report.symbols_pending = self.symbols_pending();
        self.finish_event(sink, &report);
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

    /// The writer for an update: the shared one while a symbol pass runs, else a new one
    /// sized for `bytes` of input.
    fn take_writer(
        &self,
        up: &mut Updater,
        index: &Index,
        bytes: u64,
        merge: bool,
    ) -> Result<IndexWriter, SearchError> {
        match up.writer.take() {
            Some(w) => Ok(w),
            None if up.pass_active => self.writer(index, 0, false),
            None => self.writer(index, bytes, merge),
        }
    }

    /// Give back a writer taken with [`Engine::take_writer`] after a successful commit: kept
    /// for the symbol pass, otherwise closed once its merges are done.
    fn return_writer(&self, up: &mut Updater, writer: IndexWriter) -> Result<(), SearchError> {
        if up.pass_active {
            up.writer = Some(writer);
            Ok(())
        } else {
            writer.wait_merging_threads().map_err(SearchError::from)
        }
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

fn mb_per_s(bytes: u64, ms: u64) -> f64 {
    let secs = (ms as f64 / 1000.0).max(1e-3);
    ((bytes as f64 / 1e6 / secs) * 10.0).round() / 10.0
}
