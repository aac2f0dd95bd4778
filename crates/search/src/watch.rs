//! Keeping the index fresh while a server runs: a `notify` watcher on the root feeds changed
//! paths, after a short quiet period, to an incremental update of just those paths.
//!
//! Starting a watcher also catches up with what changed while nobody watched (an
//! incremental walk, or the first build). A change to `.gitignore` or `.ignore` re-walks the
//! whole tree, since it may hide or reveal any file. Queries never wait for the watcher:
//! readers keep the last committed snapshot until the next commit lands.

use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use notify::{EventKind, RecursiveMode, Watcher as _};
use tokio_util::sync::CancellationToken;

use super::{SearchError, SearchIndex};
use apex_core::events::NullSink;

/// Quiet time after the last event before an update runs.
const QUIET: Duration = Duration::from_millis(40);
/// An update runs at the latest this long after the first event of a burst.
const MAX_DELAY: Duration = Duration::from_millis(250);

/// A running watcher. Dropping it stops watching.
pub struct Watcher {
    watcher: Option<notify::RecommendedWatcher>,
    thread: Option<JoinHandle<()>>,
    index: SearchIndex,
}

impl Drop for Watcher {
    fn drop(&mut self) {
        // Dropping the notify watcher closes the channel, which ends the thread.
        self.watcher.take();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        self.index.inner.watching.store(false, Ordering::Relaxed);
    }
}

impl SearchIndex {
    /// Watch the workspace and keep the index fresh until the returned [`Watcher`] is dropped.
    /// Catches up first (building the index if it was never built) on the watcher's thread.
    pub fn watch(&self) -> Result<Watcher, SearchError> {
        let (tx, rx) = mpsc::channel::<notify::Result<notify::Event>>();
        let mut watcher = notify::recommended_watcher(move |res| {
            let _ = tx.send(res);
        })
        .map_err(|e| watch_error(self, e))?;
        watcher
            .watch(self.inner.ws.root(), RecursiveMode::Recursive)
            .map_err(|e| watch_error(self, e))?;
        self.inner.watching.store(true, Ordering::Relaxed);
        let index = self.clone();
        let thread = std::thread::Builder::new()
            .name("search-watch".into())
            .spawn(move || run(index, rx))
            .map_err(|source| SearchError::Io {
                path: "search watcher thread".into(),
                source,
            })?;
        Ok(Watcher {
            watcher: Some(watcher),
            thread: Some(thread),
            index: self.clone(),
        })
    }
}

fn watch_error(index: &SearchIndex, e: notify::Error) -> SearchError {
    SearchError::Io {
        path: index.inner.ws.root().display().to_string(),
        source: std::io::Error::other(format!("cannot watch: {e}")),
    }
}

fn run(index: SearchIndex, rx: mpsc::Receiver<notify::Result<notify::Event>>) {
    let never = CancellationToken::new();
    let caught_up = if index.is_indexed() {
        index.refresh().map(|_| ())
    } else {
        index.ensure_indexed(&NullSink, &never).map(|_| ())
    };
    if let Err(e) = caught_up {
        tracing::warn!(error = %e, "search index catch-up failed");
    }
    let data_dir = index.inner.ws.data_dir().to_path_buf();
    loop {
        let Ok(first) = rx.recv() else {
            return;
        };
        let mut paths: Vec<PathBuf> = Vec::new();
        let mut closed = false;
        take(first, &mut paths);
        let started = Instant::now();
        loop {
            let wait = QUIET.min(MAX_DELAY.saturating_sub(started.elapsed()));
            if wait.is_zero() {
                break;
            }
            match rx.recv_timeout(wait) {
                Ok(ev) => take(ev, &mut paths),
                Err(RecvTimeoutError::Timeout) => break,
                Err(RecvTimeoutError::Disconnected) => {
                    closed = true;
                    break;
                }
            }
        }
        paths.retain(|p| !p.starts_with(&data_dir));
        paths.sort();
        paths.dedup();
        if !paths.is_empty() {
            update(&index, paths);
        }
        if closed {
            return;
        }
    }
}

fn take(ev: notify::Result<notify::Event>, paths: &mut Vec<PathBuf>) {
    match ev {
        Ok(ev) if !matches!(ev.kind, EventKind::Access(_)) => paths.extend(ev.paths),
        Ok(_) => {}
        Err(e) => tracing::debug!(error = %e, "watch error"),
    }
}

fn update(index: &SearchIndex, paths: Vec<PathBuf>) {
    let rules_changed = paths.iter().any(|p| {
        p.file_name()
            .is_some_and(|n| n == ".gitignore" || n == ".ignore")
    });
    for attempt in 0..5 {
        let result = if rules_changed {
            index.refresh()
        } else {
            index.update_paths(paths.clone())
        };
        match result {
            Ok(r) => {
                tracing::debug!(
                    added = r.added,
                    updated = r.updated,
                    removed = r.removed,
                    ms = r.duration_ms,
                    "index refreshed"
                );
                return;
            }
            Err(SearchError::Locked) if attempt < 4 => {
                std::thread::sleep(Duration::from_millis(200));
            }
            Err(e) => {
                tracing::warn!(error = %e, "index refresh failed");
                return;
            }
        }
    }
}
