//! Keeping the index fresh while a server runs: a `notify` watcher on the root feeds changed
//! paths, after a short quiet period, to an incremental update of just those paths.
//!
//! Starting a watcher also catches up with what changed while nobody watched (an
//! incremental walk, or the first build). A change to `.gitignore` or `.ignore` re-walks the
//! whole tree, since it may hide or reveal any file. Queries never wait for the watcher:
//! readers keep the last committed snapshot until the next commit lands.

use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use notify::{EventKind, RecursiveMode, Watcher as _};
use tokio_util::sync::CancellationToken;

use super::{SearchError, SearchIndex};
use apex_core::events::NullSink;

/// Quiet time after the last change before an update runs. An editor's save (a write, or a
/// temporary file renamed over the old one) comes as events well under a millisecond apart;
/// a change that arrives later only means one more update, never a missed one.
const QUIET: Duration = Duration::from_millis(20);
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
        let mut paths = changed_paths(first, &data_dir);
        if paths.is_empty() {
            continue;
        }
        let mut burst = Burst::new(Instant::now());
        let mut closed = false;
        while let Some(wait) = burst.wait(Instant::now()) {
            match rx.recv_timeout(wait) {
                Ok(ev) => {
                    let more = changed_paths(ev, &data_dir);
                    if !more.is_empty() {
                        burst.changed(Instant::now());
                        paths.extend(more);
                    }
                }
                Err(RecvTimeoutError::Timeout) => break,
                Err(RecvTimeoutError::Disconnected) => {
                    closed = true;
                    break;
                }
            }
        }
        paths.sort();
        paths.dedup();
        update(&index, paths);
        if closed {
            return;
        }
    }
}

/// The paths an event says changed: none for a read (inotify reports every `open`, and the
/// symbol pass, a build or a grep opens files all the time), an error, or the index's own
/// files in the data dir. Only a change starts a burst or holds one open: when reads counted,
/// a save during the symbol pass waited the whole [`MAX_DELAY`] (the pass's reads never left
/// [`QUIET`] of silence), 125 ms on average.
fn changed_paths(ev: notify::Result<notify::Event>, data_dir: &Path) -> Vec<PathBuf> {
    match ev {
        Ok(ev) if !matches!(ev.kind, EventKind::Access(_)) => ev
            .paths
            .into_iter()
            .filter(|p| !p.starts_with(data_dir))
            .collect(),
        Ok(_) => Vec::new(),
        Err(e) => {
            tracing::debug!(error = %e, "watch error");
            Vec::new()
        }
    }
}

/// One burst of changes: due [`QUIET`] after its last change, and at most [`MAX_DELAY`]
/// after its first.
#[derive(Debug, Clone, Copy)]
struct Burst {
    started: Instant,
    last: Instant,
}

impl Burst {
    fn new(now: Instant) -> Self {
        Burst {
            started: now,
            last: now,
        }
    }

    fn changed(&mut self, now: Instant) {
        self.last = now;
    }

    fn due(&self) -> Instant {
        (self.last + QUIET).min(self.started + MAX_DELAY)
    }

    /// How long to wait for more changes; `None` once the burst is due.
    fn wait(&self, now: Instant) -> Option<Duration> {
        let wait = self.due().saturating_duration_since(now);
        (!wait.is_zero()).then_some(wait)
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

#[cfg(test)]
mod tests {
    use super::*;
    use notify::event::{AccessKind, AccessMode, DataChange, ModifyKind};

    fn event(kind: EventKind, path: &str) -> notify::Result<notify::Event> {
        Ok(notify::Event::new(kind).add_path(PathBuf::from(path)))
    }

    #[test]
    fn reads_and_the_index_s_own_files_are_not_changes() {
        let data = Path::new("/ws/.netra");
        let open = EventKind::Access(AccessKind::Open(AccessMode::Any));
        let close = EventKind::Access(AccessKind::Close(AccessMode::Read));
        let write = EventKind::Modify(ModifyKind::Data(DataChange::Any));
        assert!(changed_paths(event(open, "/ws/src/lib.rs"), data).is_empty());
        assert!(changed_paths(event(close, "/ws/src/lib.rs"), data).is_empty());
        assert!(changed_paths(event(write, "/ws/.netra/index/meta.json"), data).is_empty());
        assert!(changed_paths(Err(notify::Error::generic("gone")), data).is_empty());
        assert_eq!(
            changed_paths(event(write, "/ws/src/lib.rs"), data),
            vec![PathBuf::from("/ws/src/lib.rs")]
        );
    }

    #[test]
    fn a_burst_is_due_a_quiet_time_after_its_last_change_and_never_past_the_longest_delay() {
        let t0 = Instant::now();
        let ms = |n: u64| Duration::from_millis(n);
        let mut burst = Burst::new(t0);
        assert_eq!(burst.due(), t0 + QUIET);
        assert_eq!(burst.wait(t0 + ms(10)), Some(QUIET - ms(10)));
        burst.changed(t0 + ms(30));
        assert_eq!(burst.due(), t0 + ms(30) + QUIET);
        burst.changed(t0 + MAX_DELAY - ms(5));
        assert_eq!(burst.due(), t0 + MAX_DELAY);
        assert_eq!(burst.wait(t0 + MAX_DELAY), None);
        assert_eq!(burst.wait(t0 + MAX_DELAY + ms(1)), None);
    }
}
