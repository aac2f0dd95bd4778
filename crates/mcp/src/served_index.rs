//! The codebase index as the server holds it: open; open but read-only; or unavailable, for
//! a reason the user can act on (a full disk, no write permission on the index dir). No
//! state of the index stops the server: the other capabilities work, search tools and
//! `index_status` say what is wrong and what to do, and a background thread opens (or
//! writes) the index as soon as it can, and starts the file watcher the server asked for,
//! with no restart.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use apex_core::files::{DiskFault, probe_writable};
use apex_core::workspace::Workspace;
use apex_search::{SearchError, SearchIndex, Watcher};
use tokio_util::sync::CancellationToken;

/// How often an unavailable index is tried again.
pub const RETRY_EVERY: Duration = Duration::from_secs(2);

/// What is wrong with the index, in words a user can act on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexProblem {
    /// A short cause: "disk full", "permission denied", ... or "error".
    pub reason: String,
    pub index_dir: PathBuf,
    /// The whole sentence: what failed, where, and what to do.
    pub message: String,
}

impl std::fmt::Display for IndexProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

/// The fault behind an error, read from its text (tantivy flattens I/O errors) or, when the
/// text hides it, from a write probe of the directory.
fn fault_of(text: &str, index_dir: &Path) -> Option<DiskFault> {
    DiskFault::in_message(text).or_else(|| {
        let dir = if index_dir.exists() {
            index_dir
        } else {
            index_dir.parent().unwrap_or(index_dir)
        };
        probe_writable(dir).err().and_then(|e| DiskFault::of(&e))
    })
}

fn reason_and_remedy(fault: Option<DiskFault>, index_dir: &Path) -> (String, String) {
    match fault {
        Some(f) => (f.label().to_string(), f.remedy(index_dir)),
        None => (
            "error".to_string(),
            format!(
                "see the server log; removing {} makes the server rebuild the index",
                index_dir.display()
            ),
        ),
    }
}

impl IndexProblem {
    /// The index cannot be opened at all.
    fn unavailable(index_dir: PathBuf, error: &SearchError) -> Self {
        let text = error.to_string();
        let text = text.strip_prefix("search index error: ").unwrap_or(&text);
        let (reason, remedy) = reason_and_remedy(fault_of(text, &index_dir), &index_dir);
        let message = format!(
            "index unavailable: {reason}: cannot open the search index at {} ({text}). To fix: {remedy}; \
             search comes back by itself within seconds, no restart needed. Every other tool works meanwhile.",
            index_dir.display(),
        );
        Self {
            reason,
            index_dir,
            message,
        }
    }

    /// The index opens and answers, but cannot be written.
    fn read_only(index_dir: PathBuf, error: &std::io::Error) -> Self {
        let (reason, remedy) = reason_and_remedy(DiskFault::of(error), &index_dir);
        let message = format!(
            "index read-only: {reason}: cannot write the search index at {} ({error}); searches answer \
             from the index as it was and changed files are not indexed. To fix: {remedy}; updates \
             resume by themselves within seconds, no restart needed.",
            index_dir.display(),
        );
        Self {
            reason,
            index_dir,
            message,
        }
    }
}

enum Slot {
    Ready(SearchIndex),
    ReadOnly(SearchIndex, IndexProblem),
    Unavailable(IndexProblem),
}

/// The server's index: [`ServedIndex::get`] gives it, or why there is none.
pub struct ServedIndex {
    ws: Workspace,
    slot: RwLock<Slot>,
    /// Keep the index fresh with a watcher (set by `serve`; started once the index opens
    /// for writing).
    watch: Mutex<Option<Watcher>>,
    wants_watch: AtomicBool,
}

impl ServedIndex {
    /// Open the index of `ws`; when it cannot be opened or written, hold the reason and retry
    /// in the background every [`RETRY_EVERY`] until it can, or `shutdown` is cancelled.
    pub fn open(ws: &Workspace, shutdown: &CancellationToken) -> Arc<Self> {
        let served = Arc::new(Self {
            ws: ws.clone(),
            slot: RwLock::new(Self::open_slot(ws)),
            watch: Mutex::new(None),
            wants_watch: AtomicBool::new(false),
        });
        if served.problem().is_some() {
            served.retry_in_background(shutdown.clone());
        }
        served
    }

    fn index_dir(ws: &Workspace) -> PathBuf {
        ws.data_dir().join("index")
    }

    fn open_slot(ws: &Workspace) -> Slot {
        let dir = Self::index_dir(ws);
        match SearchIndex::open(ws) {
            Ok(index) => match probe_writable(&dir) {
                Ok(()) => Slot::Ready(index),
                Err(e) => Slot::ReadOnly(index, IndexProblem::read_only(dir, &e)),
            },
            Err(e) => Slot::Unavailable(IndexProblem::unavailable(dir, &e)),
        }
    }

    /// The index to query (it may be read-only), or why there is none.
    pub fn get(&self) -> Result<SearchIndex, IndexProblem> {
        match &*self.slot.read().unwrap_or_else(|p| p.into_inner()) {
            Slot::Ready(index) | Slot::ReadOnly(index, _) => Ok(index.clone()),
            Slot::Unavailable(why) => Err(why.clone()),
        }
    }

    /// The index to update, or why it cannot be updated.
    pub fn writable(&self) -> Result<SearchIndex, IndexProblem> {
        match &*self.slot.read().unwrap_or_else(|p| p.into_inner()) {
            Slot::Ready(index) => Ok(index.clone()),
            Slot::ReadOnly(_, why) | Slot::Unavailable(why) => Err(why.clone()),
        }
    }

    /// What is wrong with the index, if anything.
    pub fn problem(&self) -> Option<IndexProblem> {
        match &*self.slot.read().unwrap_or_else(|p| p.into_inner()) {
            Slot::Ready(_) => None,
            Slot::ReadOnly(_, why) | Slot::Unavailable(why) => Some(why.clone()),
        }
    }

    /// Keep the index fresh while serving: start the watcher now, or as soon as the index
    /// can be written. The server works without it.
    pub fn start_watching(&self) {
        self.wants_watch.store(true, Ordering::SeqCst);
        if let Ok(index) = self.writable() {
            self.watch_with(&index);
        }
    }

    /// Stop the watcher (the server is shutting down).
    pub fn stop_watching(&self) {
        if let Ok(mut w) = self.watch.lock() {
            w.take();
        }
    }

    fn watch_with(&self, index: &SearchIndex) {
        let Ok(mut slot) = self.watch.lock() else {
            return;
        };
        if slot.is_some() {
            return;
        }
        match index.watch() {
            Ok(w) => *slot = Some(w),
            Err(e) => {
                tracing::warn!(error = %e, "no file watcher: the index refreshes only on reindex")
            }
        }
    }

    /// Try again to open (or to write) the index; true when it is fully usable.
    pub fn retry(&self) -> bool {
        let next = match &*self.slot.read().unwrap_or_else(|p| p.into_inner()) {
            Slot::Ready(_) => return true,
            Slot::ReadOnly(index, _) => {
                let dir = Self::index_dir(&self.ws);
                match probe_writable(&dir) {
                    Ok(()) => Slot::Ready(index.clone()),
                    Err(e) => Slot::ReadOnly(index.clone(), IndexProblem::read_only(dir, &e)),
                }
            }
            Slot::Unavailable(_) => Self::open_slot(&self.ws),
        };
        let ready = match &next {
            Slot::Ready(index) => Some(index.clone()),
            _ => None,
        };
        if let Ok(mut slot) = self.slot.write() {
            *slot = next;
        }
        let Some(index) = ready else {
            return false;
        };
        tracing::info!(index = %Self::index_dir(&self.ws).display(), "search index usable again");
        if self.wants_watch.load(Ordering::SeqCst) {
            self.watch_with(&index);
        }
        true
    }

    fn retry_in_background(self: &Arc<Self>, shutdown: CancellationToken) {
        let served = Arc::downgrade(self);
        let spawned = std::thread::Builder::new()
            .name("search-reopen".into())
            .spawn(move || {
                loop {
                    std::thread::sleep(RETRY_EVERY);
                    if shutdown.is_cancelled() {
                        return;
                    }
                    let Some(served) = served.upgrade() else {
                        return;
                    };
                    if served.retry() {
                        return;
                    }
                }
            });
        if let Err(e) = spawned {
            tracing::warn!(error = %e, "cannot start the index retry thread; restart the server once the disk is fixed");
        }
    }
}
