//! Codebase search: walk the workspace, extract symbols, keep a tantivy index in
//! `<data-dir>/index/` fresh, and answer queries within a token budget.
//!
//! [`SearchIndex`] is the one entry point: open it over a [`Workspace`], then call its query
//! methods (`search_code`, `find_symbol`, `find_references`, `read_code`, `outline`,
//! `index_status`, `reindex`) or start a watcher. It owns the index directory and nothing
//! else on disk; it never imports the MCP face or the CLI, and reports long work through
//! [`EventSink`]. [`symbols::extract`] parses a single file without any index.

pub mod budget;
pub mod index;
mod literals;
pub mod names;
pub mod query;
pub mod read;
pub mod symbols;
pub mod tokenizer;
pub mod walk;
pub mod watch;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

use apex_core::events::{EventSink, NullSink};
use apex_core::workspace::{Workspace, WorkspaceError};
use index::{BINARY, Engine, Scope};

pub use budget::{DEFAULT_MAX_TOKENS, MAX_TOKENS_CAP};
pub use index::IndexReport;
pub use query::{
    Definition, FindSymbolRequest, Reference, ReferenceRequest, References, SearchHit, SearchMode,
    SearchRequest, SearchResults, SymbolResults,
};
pub use read::{CodeExcerpt, Outline, OutlineNode, ReadRequest};
pub use symbols::{Language, Symbol, SymbolKind};
pub use watch::Watcher;

/// Everything that can go wrong in search. Messages name the field, what was wrong and what
/// is accepted.
#[derive(Debug, thiserror::Error)]
pub enum SearchError {
    #[error(transparent)]
    Workspace(#[from] WorkspaceError),
    #[error("{field}: {message}")]
    BadArgument {
        field: &'static str,
        message: String,
    },
    #[error("{field} is empty; give the text, identifier or regex to search for")]
    EmptyQuery { field: &'static str },
    #[error(
        "query is not a valid regex: {message} (at character {position}); escape special characters with `\\` or use mode `text`"
    )]
    InvalidRegex { position: usize, message: String },
    #[error("{0}")]
    NotFound(String),
    #[error(
        "the index is locked by another netra-apex process that is writing it; try again when it is done"
    )]
    Locked,
    #[error("indexing was cancelled after {indexed} files; what was indexed is kept")]
    Cancelled { indexed: u64 },
    #[error("cannot read {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("search index error: {0}")]
    Index(#[from] tantivy::TantivyError),
    #[error("search index state is unusable after a crash in another thread")]
    Poisoned,
}

/// Statistics of the index, for `index_status` and `apex://index/status`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct IndexStatus {
    /// Whether a complete index exists (a query on an unindexed workspace builds it first).
    pub indexed: bool,
    pub root: String,
    pub index_dir: String,
    /// Text files indexed.
    pub files: u64,
    pub symbols: u64,
    /// Files indexed for text whose symbols are still being extracted (a large build
    /// commits text first, and files over 256 KB always wait for the symbol pass);
    /// `find_symbol` searches them by text meanwhile.
    pub symbols_pending: u64,
    /// The first of those files by path (at most 20).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pending_files: Vec<String>,
    /// Bytes of indexed text.
    pub bytes: u64,
    /// Indexed files per language.
    pub languages: BTreeMap<String, u64>,
    pub skipped_binary: u64,
    pub skipped_large: u64,
    pub skipped_symlinks: u64,
    pub max_file_size: u64,
    /// When the last update was committed (RFC 3339), if ever.
    pub last_update: Option<String>,
    pub index_size_bytes: u64,
    /// Whether a watcher keeps the index fresh.
    pub watching: bool,
    /// Set when the index on disk was found damaged at open and rebuilt.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rebuilt_after_damage: Option<String>,
}

/// The codebase index of one workspace. Cheap to clone and share: clones use the same index.
///
/// ```no_run
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use apex_search::{SearchIndex, SearchRequest};
/// use apex_core::workspace::Workspace;
/// let ws = Workspace::open(std::path::Path::new("."), None)?;
/// let index = SearchIndex::open(&ws)?;
/// let found = index.search_code(&SearchRequest::new("parse_config"))?;
/// for hit in found.hits {
///     println!("{}:{} {}", hit.path, hit.line, hit.snippet);
/// }
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct SearchIndex {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub ws: Workspace,
    pub engine: Engine,
    pub watching: AtomicBool,
    /// Set while a background symbol pass runs.
    pub symbol_pass: AtomicBool,
}

impl SearchIndex {
    /// Open (or create) the index of `ws` in `<data-dir>/index/`. Does not build it: the
    /// first query, [`SearchIndex::ensure_indexed`] or [`SearchIndex::reindex`] does.
    /// A damaged index is detected here and replaced by an empty one.
    pub fn open(ws: &Workspace) -> Result<Self, SearchError> {
        let cfg = &ws.config().search;
        let rules =
            walk::WalkRules::new(ws.root(), ws.data_dir(), cfg.max_file_size, &cfg.exclude)?;
        let engine = Engine::open(&ws.data_dir().join("index"), rules, cfg.text_first_over)?;
        Ok(Self {
            inner: Arc::new(Inner {
                ws: ws.clone(),
                engine,
                watching: AtomicBool::new(false),
                symbol_pass: AtomicBool::new(false),
            }),
        })
    }

    /// The workspace this index covers.
    pub fn workspace(&self) -> &Workspace {
        &self.inner.ws
    }

    /// Whether a complete index exists.
    pub fn is_indexed(&self) -> bool {
        self.inner.engine.is_indexed()
    }

    /// Build the index if it was never built, reporting progress to `sink`. Returns the
    /// report of the build, or `None` when the index already existed. Returns once text is
    /// searchable; symbols of a large build are extracted on a background thread
    /// ([`SearchIndex::ensure_symbols`] waits for them).
    pub fn ensure_indexed(
        &self,
        sink: &dyn EventSink,
        cancel: &CancellationToken,
    ) -> Result<Option<IndexReport>, SearchError> {
        let report = self.inner.engine.ensure_indexed(false, sink, cancel)?;
        self.symbols_in_background();
        Ok(report)
    }

    /// Like [`SearchIndex::ensure_indexed`], and also wait until every file's symbols are
    /// extracted (sharing the work with a background pass that may be running).
    pub fn ensure_symbols(
        &self,
        sink: &dyn EventSink,
        cancel: &CancellationToken,
    ) -> Result<Option<IndexReport>, SearchError> {
        self.inner.engine.ensure_indexed(true, sink, cancel)
    }

    /// Files whose symbols are still being extracted.
    pub fn symbols_pending(&self) -> u64 {
        self.inner.engine.symbols_pending()
    }

    /// Bring the index up to date: `full` re-reads every file, otherwise only files whose
    /// mtime or size changed are read, and only those whose content hash changed are
    /// re-indexed. Emits `index_started`, `files_indexed` per batch, `symbols_started` and
    /// `symbols_extracted` per batch when a large update parses symbols after committing
    /// text, and `index_finished`. Returns when symbols are complete too.
    pub fn reindex(
        &self,
        full: bool,
        sink: &dyn EventSink,
        cancel: &CancellationToken,
    ) -> Result<IndexReport, SearchError> {
        self.inner
            .engine
            .update(Scope::All, full, true, sink, cancel)
    }

    /// How many bytes a reindex would read: every file the walk accepts when `full` or when
    /// no index exists yet, `None` for an incremental update (it reads changed files only).
    /// Walks the tree (metadata only) in the first case.
    pub fn reindex_bytes(&self, full: bool) -> Option<u64> {
        if !full && self.is_indexed() {
            return None;
        }
        Some(
            self.inner
                .engine
                .rules
                .walk()
                .files
                .iter()
                .map(|f| f.size)
                .sum(),
        )
    }

    /// An incremental update of the whole tree that returns once text is committed, leaving
    /// a large update's symbols to a background pass (the watcher's catch-up).
    pub(crate) fn refresh(&self) -> Result<IndexReport, SearchError> {
        self.update_quietly(Scope::All)
    }

    /// Re-check only the given paths (files or directories, absolute), as the watcher does.
    pub fn update_paths(&self, paths: Vec<std::path::PathBuf>) -> Result<IndexReport, SearchError> {
        self.update_quietly(Scope::Paths(paths))
    }

    /// An incremental update without progress, its symbols (if left pending) in the background.
    fn update_quietly(&self, scope: Scope) -> Result<IndexReport, SearchError> {
        let report =
            self.inner
                .engine
                .update(scope, false, false, &NullSink, &CancellationToken::new())?;
        self.symbols_in_background();
        Ok(report)
    }

    /// Start a background symbol pass when files are pending and none runs yet.
    fn symbols_in_background(&self) {
        if self.symbols_pending() == 0 || self.inner.symbol_pass.swap(true, Ordering::SeqCst) {
            return;
        }
        let index = self.clone();
        let spawned = std::thread::Builder::new()
            .name("search-symbols".into())
            .spawn(move || index.background_symbol_pass());
        if let Err(e) = spawned {
            tracing::warn!(error = %e, "cannot start the symbol pass; queries that need symbols will run it");
            self.inner.symbol_pass.store(false, Ordering::SeqCst);
        }
    }

    fn background_symbol_pass(&self) {
        let never = CancellationToken::new();
        let mut locked = 0;
        loop {
            match self.inner.engine.extract_symbols(&NullSink, &never) {
                Ok(pass) => tracing::debug!(
                    files = pass.files,
                    symbols = pass.symbols,
                    ms = pass.ms,
                    "symbol pass done"
                ),
                // Another process writes the index; its batches are short.
                Err(SearchError::Locked) if locked < 60 => {
                    locked += 1;
                    std::thread::sleep(std::time::Duration::from_secs(1));
                    continue;
                }
                Err(e) => tracing::warn!(error = %e, "symbol pass stopped"),
            }
            self.inner.symbol_pass.store(false, Ordering::SeqCst);
            // Files that became pending after the last batch was picked start a new pass.
            if self.symbols_pending() == 0 || self.inner.symbol_pass.swap(true, Ordering::SeqCst) {
                return;
            }
        }
    }

    /// Statistics of the index.
    pub fn index_status(&self) -> Result<IndexStatus, SearchError> {
        let e = &self.inner.engine;
        let indexed = e.is_indexed();
        let m = e.manifest.read().map_err(|_| SearchError::Poisoned)?;
        let mut status = IndexStatus {
            indexed,
            root: self.inner.ws.root().display().to_string(),
            index_dir: e.dir.display().to_string(),
            files: 0,
            symbols: 0,
            symbols_pending: 0,
            pending_files: Vec::new(),
            bytes: 0,
            languages: BTreeMap::new(),
            skipped_binary: 0,
            skipped_large: m.info.as_ref().map_or(0, |i| i.skipped_large),
            skipped_symlinks: m.info.as_ref().map_or(0, |i| i.skipped_symlinks),
            max_file_size: e.rules.max_file_size(),
            last_update: m.info.as_ref().map(|i| i.last_update.clone()),
            index_size_bytes: e.size_on_disk(),
            watching: self.inner.watching.load(Ordering::Relaxed),
            rebuilt_after_damage: e.rebuilt_reason(),
        };
        for meta in m.files.values() {
            if meta.lang == BINARY {
                status.skipped_binary += 1;
                continue;
            }
            status.files += 1;
            match meta.symbols {
                Some(n) => status.symbols += n as u64,
                None => status.symbols_pending += 1,
            }
            status.bytes += meta.size;
            *status.languages.entry(meta.lang.clone()).or_default() += 1;
        }
        drop(m);
        if status.symbols_pending > 0 {
            status.pending_files = e.pending_files(20);
        }
        Ok(status)
    }

    /// Build the index first when the workspace was never indexed (queries call this).
    pub(crate) fn ready(&self) -> Result<(), SearchError> {
        self.ensure_indexed(&NullSink, &CancellationToken::new())
            .map(|_| ())
    }
}

/// The arguments of `reindex` and of `netra-apex index`, written once.
#[derive(Debug, Clone, Default, serde::Deserialize, schemars::JsonSchema, clap::Args)]
#[serde(deny_unknown_fields)]
pub struct ReindexArgs {
    /// Re-read every file (default false: only files whose mtime/size and content changed).
    #[arg(long, num_args = 0..=1, default_missing_value = "true", value_name = "BOOL")]
    pub full: Option<bool>,
}

impl apex_core::run::RunOutput for IndexReport {
    fn run_result(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or(serde_json::Value::Null)
    }
}

impl apex_core::run::RunFailure for SearchError {
    fn is_cancelled(&self) -> bool {
        matches!(self, SearchError::Cancelled { .. })
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use tantivy::collector::Count;
    use tantivy::query::TermQuery;
    use tantivy::schema::IndexRecordOption;

    use super::*;
    use crate::query::FindSymbolRequest;

    fn copy_tree(from: &Path, to: &Path) {
        std::fs::create_dir_all(to).unwrap();
        for entry in std::fs::read_dir(from).unwrap() {
            let entry = entry.unwrap();
            let target = to.join(entry.file_name());
            if entry.file_type().unwrap().is_dir() {
                copy_tree(&entry.path(), &target);
            } else {
                std::fs::copy(entry.path(), target).unwrap();
            }
        }
    }

    /// The `poly` fixture, configured so that every update commits text before symbols.
    fn text_first_poly() -> (tempfile::TempDir, Workspace) {
        let dir = tempfile::tempdir().unwrap();
        let fixture =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/search/poly");
        copy_tree(&fixture, dir.path());
        let ws = text_first_workspace(dir.path());
        (dir, ws)
    }

    /// The workspace at `root`, configured so that every update commits text before symbols.
    fn text_first_workspace(root: &Path) -> Workspace {
        std::fs::write(root.join("apex.toml"), "[search]\ntext_first_over = 0\n").unwrap();
        Workspace::open(root, None).unwrap()
    }

    /// An update of the whole tree that commits text and leaves every symbol pending (what a
    /// text-first build does before its symbol pass).
    fn text_pass_only(index: &SearchIndex) -> IndexReport {
        index
            .inner
            .engine
            .update(
                Scope::All,
                false,
                false,
                &NullSink,
                &CancellationToken::new(),
            )
            .unwrap()
    }

    /// Symbol documents in the index (a file parsed twice would count twice).
    fn symbol_docs(index: &SearchIndex) -> usize {
        let f = index.inner.engine.f;
        let q = TermQuery::new(
            tantivy::Term::from_field_text(f.kind, index::KIND_SYMBOL),
            IndexRecordOption::Basic,
        );
        index
            .inner
            .engine
            .handle()
            .reader
            .searcher()
            .search(&q, &Count)
            .unwrap()
    }

    #[test]
    fn symbols_left_pending_by_a_killed_build_are_finished_after_a_restart() {
        let (_d, ws) = text_first_poly();
        let index = SearchIndex::open(&ws).unwrap();
        // The text pass alone: what a build killed between its passes leaves on disk.
        let r = text_pass_only(&index);
        assert_eq!(r.symbols_indexed, 0, "{r:?}");
        assert_eq!(
            r.symbols_pending, 10,
            "every source file but the README: {r:?}"
        );
        assert_eq!(symbol_docs(&index), 0);
        drop(index);

        let index = SearchIndex::open(&ws).unwrap();
        index.inner.engine.gate().unwrap();
        assert!(index.is_indexed(), "text is complete");
        assert_eq!(
            index.symbols_pending(),
            10,
            "the restart knows what is left"
        );
        let status = index.index_status().unwrap();
        assert_eq!((status.symbols, status.symbols_pending), (0, 10));

        // While symbols are pending, `find_symbol` answers at once from text, says so and
        // names the pending files that hold the name. (No background pass may start here: the
        // flag says one runs.)
        index.inner.symbol_pass.store(true, Ordering::SeqCst);
        let text = index.search_code(&SearchRequest::new("add_item")).unwrap();
        assert!(!text.hits.is_empty());
        let found = index
            .find_symbol(&FindSymbolRequest::new("OrderService"))
            .unwrap();
        assert_eq!(found.total, 1, "{found:?}");
        let d = &found.definitions[0];
        assert_eq!(
            (
                d.path.as_str(),
                d.line,
                d.kind.as_str(),
                d.match_kind.as_str()
            ),
            ("python/app/service.py", 6, "class", "text_fallback"),
            "{found:?}"
        );
        assert_eq!(found.symbols_pending, 10);
        assert_eq!(found.pending_files, ["python/app/service.py"]);
        let note = found.note.unwrap_or_default();
        assert!(
            note.contains("no definition in the symbol index") && note.contains("text_fallback"),
            "{note}"
        );
        let status = index.index_status().unwrap();
        assert_eq!(status.pending_files.len(), 10, "{status:?}");

        // The pass (as `reindex` runs it) finds everything once.
        index.inner.symbol_pass.store(false, Ordering::SeqCst);
        index
            .ensure_symbols(&NullSink, &CancellationToken::new())
            .unwrap();
        let found = index
            .find_symbol(&FindSymbolRequest::new("OrderService"))
            .unwrap();
        assert_eq!(found.total, 1, "{found:?}");
        assert_eq!(found.definitions[0].match_kind, "exact");
        assert_eq!((found.note, found.symbols_pending), (None, 0));
        assert_eq!(index.symbols_pending(), 0);
        assert_eq!(index.index_status().unwrap().symbols, 60);
        assert_eq!(symbol_docs(&index), 60, "no file was parsed twice");

        // Text hits name their enclosing definition again.
        let hit = index.search_code(&SearchRequest::new("add_item")).unwrap();
        assert_eq!(hit.note, None);
        assert!(
            hit.hits
                .iter()
                .any(|h| h.symbol.as_deref() == Some("add_item")),
            "{hit:?}"
        );
    }

    #[test]
    fn a_pass_of_several_batches_parses_every_file_once_while_the_last_one_commits() {
        // More small files than one batch holds, and two large files (a batch of their own):
        // each batch parses while the one before it commits, and none may be picked twice.
        let dir = tempfile::tempdir().unwrap();
        let small = 4_100;
        for i in 0..small {
            let sub = dir.path().join(format!("pkg{}", i / 500));
            std::fs::create_dir_all(&sub).unwrap();
            std::fs::write(
                sub.join(format!("m{i}.py")),
                format!("def small_{i}():\n    return {i}\n"),
            )
            .unwrap();
        }
        let per_large = 9_000;
        for name in ["big_a", "big_b"] {
            let text: String = (0..per_large)
                .map(|i| format!("function {name}_{i}() {{ return {i}; }}\n"))
                .collect();
            assert!(text.len() as u64 > index::LARGE_SYMBOL_FILE);
            std::fs::write(dir.path().join(format!("{name}.js")), text).unwrap();
        }
        let ws = text_first_workspace(dir.path());
        let index = SearchIndex::open(&ws).unwrap();
        text_pass_only(&index);
        assert_eq!(index.symbols_pending(), small + 2);
        let never = CancellationToken::new();
        let sink = apex_core::events::CollectingSink::new();
        let pass = index.inner.engine.extract_symbols(&sink, &never).unwrap();
        assert_eq!(pass.files, small + 2);
        assert_eq!(pass.symbols, small + 2 * per_large);
        assert_eq!(index.symbols_pending(), 0);
        assert_eq!(symbol_docs(&index) as u64, small + 2 * per_large);
        // One progress event per batch, each file counted once: a file picked again while
        // its batch waited for the commit would push `done` past the total.
        let done: Vec<u64> = sink
            .events()
            .iter()
            .filter(|(kind, _)| kind == "symbols_extracted")
            .filter_map(|(_, data)| data["done"].as_u64())
            .collect();
        assert!(done.len() >= 3, "{done:?}");
        assert!(done.windows(2).all(|w| w[0] < w[1]), "{done:?}");
        assert_eq!(done.last(), Some(&(small + 2)), "{done:?}");
        for name in ["small_0", "small_4099", "big_a_0", "big_b_8999"] {
            let found = index.find_symbol(&FindSymbolRequest::new(name)).unwrap();
            let exact: Vec<_> = found
                .definitions
                .iter()
                .filter(|d| d.match_kind == "exact")
                .collect();
            assert_eq!(exact.len(), 1, "{name}: {found:?}");
            assert_eq!(exact[0].name, name);
        }
    }

    #[test]
    fn a_file_edited_between_the_passes_is_indexed_whole_by_the_symbol_pass() {
        let (d, ws) = text_first_poly();
        let index = SearchIndex::open(&ws).unwrap();
        text_pass_only(&index);
        let never = CancellationToken::new();
        let py = d.path().join("python/app/service.py");
        let mut text = std::fs::read_to_string(&py).unwrap();
        text.push_str("\n\ndef refund_between_passes(order_id):\n    return order_id\n");
        std::fs::write(&py, text).unwrap();
        let pass = index
            .inner
            .engine
            .extract_symbols(&NullSink, &never)
            .unwrap();
        assert_eq!(pass.files, 10);
        assert_eq!(index.symbols_pending(), 0);
        // The new text and the new definition are both in, and nothing is duplicated.
        let hits = index
            .search_code(&SearchRequest {
                mode: SearchMode::Text,
                ..SearchRequest::new("refund_between_passes")
            })
            .unwrap();
        assert_eq!(hits.hits.len(), 1, "{hits:?}");
        let found = index
            .find_symbol(&FindSymbolRequest {
                name: "refund_between_passes".into(),
                ..FindSymbolRequest::default()
            })
            .unwrap();
        assert_eq!(found.total, 1, "{found:?}");
        assert_eq!(symbol_docs(&index), 61);
    }
}
