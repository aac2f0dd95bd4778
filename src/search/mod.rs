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

use crate::events::{EventSink, NullSink};
use crate::workspace::{Workspace, WorkspaceError};
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
/// use netra_apex::search::{SearchIndex, SearchRequest};
/// use netra_apex::workspace::Workspace;
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
}

impl SearchIndex {
    /// Open (or create) the index of `ws` in `<data-dir>/index/`. Does not build it: the
    /// first query, [`SearchIndex::ensure_indexed`] or [`SearchIndex::reindex`] does.
    /// A damaged index is detected here and replaced by an empty one.
    pub fn open(ws: &Workspace) -> Result<Self, SearchError> {
        let cfg = &ws.config().search;
        let rules =
            walk::WalkRules::new(ws.root(), ws.data_dir(), cfg.max_file_size, &cfg.exclude)?;
        let engine = Engine::open(&ws.data_dir().join("index"), rules)?;
        Ok(Self {
            inner: Arc::new(Inner {
                ws: ws.clone(),
                engine,
                watching: AtomicBool::new(false),
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
    /// report of the build, or `None` when the index already existed.
    pub fn ensure_indexed(
        &self,
        sink: &dyn EventSink,
        cancel: &CancellationToken,
    ) -> Result<Option<IndexReport>, SearchError> {
        self.inner.engine.ensure_indexed(sink, cancel)
    }

    /// Bring the index up to date: `full` re-reads every file, otherwise only files whose
    /// mtime or size changed are read, and only those whose content hash changed are
    /// re-indexed. Emits `index_started`, `files_indexed` per batch and `index_finished`.
    pub fn reindex(
        &self,
        full: bool,
        sink: &dyn EventSink,
        cancel: &CancellationToken,
    ) -> Result<IndexReport, SearchError> {
        self.inner.engine.update(Scope::All, full, sink, cancel)
    }

    /// Re-check only the given paths (files or directories, absolute), as the watcher does.
    pub fn update_paths(&self, paths: Vec<std::path::PathBuf>) -> Result<IndexReport, SearchError> {
        self.inner.engine.update(
            Scope::Paths(paths),
            false,
            &NullSink,
            &CancellationToken::new(),
        )
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
            status.symbols += meta.symbols as u64;
            status.bytes += meta.size;
            *status.languages.entry(meta.lang.clone()).or_default() += 1;
        }
        Ok(status)
    }

    /// Build the index first when the workspace was never indexed (queries call this).
    pub(crate) fn ready(&self) -> Result<(), SearchError> {
        self.ensure_indexed(&NullSink, &CancellationToken::new())
            .map(|_| ())
    }
}
