//! State shared by every session of one server: the workspace, the store, the capability
//! handles and the change bus that turns one client's write into every subscriber's
//! `notifications/resources/updated`.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

use apex_core::pricing::PriceCatalog;
use apex_core::run::{RunDriver, RunEnd, RunKind};

use crate::served_index::ServedIndex;
use crate::uris::{INDEX_STATUS_URI, LIST_URI, bundle_uri, dataset_uri, run_uri, test_run_uri};
use apex_core::workspace::Workspace;
use apex_store::Store;

/// A change to a resource that subscribed clients should hear about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// The resource at this URI changed (`notifications/resources/updated`).
    ResourceUpdated(String),
    /// The list of resources changed (`notifications/resources/list_changed`).
    ResourceListChanged,
}

/// Everything the sessions of one server share. A capability that needs a long-lived
/// handle (an open index, a registry of background runs) adds a field here, built in
/// [`AppState::open`].
pub struct AppState {
    pub workspace: Workspace,
    pub store: Arc<Store>,
    /// The codebase index (search capability), or why it is unavailable.
    pub search: Arc<ServedIndex>,
    /// Every long operation of this server runs through it (recorded, cancellable).
    pub runs: Arc<RunDriver>,
    /// The in-memory side of runs answered as MCP tasks (see [`crate::tasks`]); shared by
    /// every session, so any session (or stateless request) can poll a task.
    pub tasks: rmcp::task_manager::TaskManager,
    /// Cancelled when the server shuts down; long background work watches it.
    pub shutdown: CancellationToken,
    /// The price catalog: the shipped one with the user's prices file laid over it.
    pub prices: Arc<PriceCatalog>,
    changes: broadcast::Sender<Change>,
    /// The newest version of every context bundle as this server last told its clients,
    /// to hear of saves made by other processes on the same data dir (see
    /// [`AppState::watch_store`]).
    bundles_told: Mutex<HashMap<String, u32>>,
    /// Held while the first index build runs: concurrent first queries wait for that one
    /// build instead of each starting its own run (and being refused as busy).
    pub first_build: tokio::sync::Mutex<()>,
}

/// How often the store is checked for bundles saved by another process.
const STORE_POLL: std::time::Duration = std::time::Duration::from_millis(500);

impl AppState {
    /// Open the workspace, its store and its index, in whatever state the disk is: a store
    /// that cannot be written is opened read-only, an index that cannot be opened is
    /// reported by the search tools and retried in the background. Only a workspace that
    /// cannot be read at all, or a damaged store, stops the server.
    pub fn open(root: &Path, data_dir: Option<&Path>) -> anyhow::Result<Arc<Self>> {
        Self::open_with_prices(root, data_dir, PriceCatalog::builtin().clone())
    }

    /// [`AppState::open`] pricing with `prices` (see `PriceCatalog::load`).
    pub fn open_with_prices(
        root: &Path,
        data_dir: Option<&Path>,
        prices: PriceCatalog,
    ) -> anyhow::Result<Arc<Self>> {
        let workspace = Workspace::open(root, data_dir)?;
        let store = Arc::new(Store::open_or_read_only(&workspace.db_path())?);
        let (changes, _) = broadcast::channel(1024);
        let shutdown = CancellationToken::new();
        let search = ServedIndex::open(&workspace, &shutdown);
        let bundles_told = apex_store::contexts::latest_versions(&store)?
            .into_iter()
            .collect();
        let runs = RunDriver::with_limit(store.clone(), workspace.config().runs.max_concurrent);
        let bus = changes.clone();
        runs.on_finish(move |end| {
            for change in run_changes(end) {
                let _ = bus.send(change);
            }
            apex_core::memory::release_free_memory();
        });
        Ok(Arc::new(Self {
            workspace,
            store,
            search,
            runs,
            tasks: rmcp::task_manager::TaskManager::new(),
            shutdown,
            prices: Arc::new(prices),
            changes,
            bundles_told: Mutex::new(bundles_told),
            first_build: tokio::sync::Mutex::new(()),
        }))
    }

    /// What works less than it should, each said once, in words a user can act on: a
    /// store open read-only, an index that cannot be opened. Empty when all is well.
    pub fn degraded(&self) -> Vec<String> {
        let mut out = Vec::new();
        if let Some(why) = self.store.read_only_reason() {
            out.push(format!(
                "the store {} is open read-only ({why}); reads work, writes resume by themselves once that is fixed",
                self.store.path().display()
            ));
        }
        if let Some(why) = self.search.problem() {
            out.push(why.to_string());
        }
        out
    }

    /// Clean up after an earlier server that did not stop cleanly: runs and test runs it
    /// left `running` are marked `interrupted`, and parts a dead writer staged are removed.
    pub fn recover(&self) -> Result<(), apex_store::StoreError> {
        let interrupted = apex_store::runs::mark_interrupted(&self.store)?;
        apex_store::testruns::mark_interrupted(&self.store, &apex_core::events::now_ts())?;
        let abandoned = apex_datasets::recover(&self.store);
        if abandoned > 0 {
            tracing::warn!(
                abandoned,
                "staged parts of an unfinished ingest or generation (its process is gone) were removed"
            );
        }
        // Datasets of the old SQLite layout become Parquet in the background; one that is
        // used before then is converted on that first use.
        let store = self.store.clone();
        std::thread::spawn(move || {
            if let Err(e) = apex_agents::convert_pending(&store, None) {
                tracing::warn!(
                    "converting datasets to Parquet failed: {e}; each is retried when it is next used"
                );
            }
        });
        if interrupted > 0 {
            tracing::warn!(
                interrupted,
                "runs left running by an earlier server were marked interrupted"
            );
        }
        Ok(())
    }

    /// Tell subscribers that bundle `name` changed (saved, imported or deleted), and note
    /// its newest version so that the store watch does not announce it a second time.
    pub fn publish_bundle_change(&self, name: &str) {
        let latest = apex_store::contexts::latest_version(&self.store, name)
            .ok()
            .flatten();
        if let Ok(mut told) = self.bundles_told.lock() {
            match latest {
                Some(v) => told.insert(name.to_string(), v),
                None => told.remove(name),
            };
        }
        self.publish_bundle_uris(name);
    }

    fn publish_bundle_uris(&self, name: &str) {
        self.publish(Change::ResourceUpdated(bundle_uri(name)));
        self.publish(Change::ResourceUpdated(LIST_URI.to_string()));
        self.publish(Change::ResourceListChanged);
    }

    /// Watch the store for bundles saved or deleted by another process on the same data
    /// dir (a second server, `netra-apex context import`) and tell this server's
    /// subscribers, as if a client of this server had made the change. Runs until shutdown.
    ///
    /// Each poll asks the store whether another connection committed
    /// ([`apex_store::watch::CommitWatch`]); the bundles are read only then.
    pub fn watch_store(self: &Arc<Self>) {
        let state = self.clone();
        tokio::spawn(async move {
            let mut watch = Some(apex_store::watch::CommitWatch::new());
            loop {
                tokio::select! {
                    _ = state.shutdown.cancelled() => return,
                    _ = tokio::time::sleep(STORE_POLL) => {}
                }
                let (s, mut w) = (state.clone(), watch.take().unwrap_or_default());
                let Ok((w, committed)) = tokio::task::spawn_blocking(move || {
                    let committed = w.others_committed(&s.store);
                    (w, committed)
                })
                .await
                else {
                    continue;
                };
                watch = Some(w);
                if !committed {
                    continue;
                }
                let s = state.clone();
                let changed = tokio::task::spawn_blocking(move || s.bundles_changed_elsewhere())
                    .await
                    .unwrap_or_default();
                for name in changed {
                    state.publish_bundle_uris(&name);
                }
            }
        });
    }

    /// Bundles whose newest version differs from what this server last told its clients.
    fn bundles_changed_elsewhere(&self) -> Vec<String> {
        let Ok(now) = apex_store::contexts::latest_versions(&self.store) else {
            return Vec::new();
        };
        let now: HashMap<String, u32> = now.into_iter().collect();
        let Ok(mut told) = self.bundles_told.lock() else {
            return Vec::new();
        };
        let mut changed: Vec<String> = now
            .iter()
            .filter(|(name, v)| told.get(*name) != Some(*v))
            .map(|(name, _)| name.clone())
            .chain(told.keys().filter(|n| !now.contains_key(*n)).cloned())
            .collect();
        changed.sort();
        *told = now;
        changed
    }

    /// Stop every run in progress and every background task of this server.
    pub fn shut_down(&self) {
        self.runs.shutdown();
        self.shutdown.cancel();
        self.search.stop_watching();
    }

    /// Tell every subscribed session that something changed.
    pub fn publish(&self, change: Change) {
        // No receivers is fine: nobody is subscribed.
        let _ = self.changes.send(change);
    }

    pub fn subscribe_changes(&self) -> broadcast::Receiver<Change> {
        self.changes.subscribe()
    }
}

/// What subscribers hear when a run ends: the run itself, and what it changed.
fn run_changes(end: &RunEnd) -> Vec<Change> {
    let mut changes = vec![Change::ResourceUpdated(run_uri(&end.run_id))];
    match end.kind {
        RunKind::Test => changes.push(Change::ResourceUpdated(test_run_uri(&end.run_id))),
        RunKind::Generation | RunKind::Ingest => {
            if let Some(d) = end.result.get("dataset").and_then(|d| d.as_str()) {
                changes.push(Change::ResourceUpdated(dataset_uri(d)));
                changes.push(Change::ResourceListChanged);
            }
        }
        RunKind::Index => changes.push(Change::ResourceUpdated(INDEX_STATUS_URI.into())),
        RunKind::Agent => {}
    }
    changes
}
