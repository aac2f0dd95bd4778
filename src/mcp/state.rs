//! State shared by every session of one server: the workspace, the store, the capability
//! handles and the change bus that turns one client's write into every subscriber's
//! `notifications/resources/updated`.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

use crate::store::Store;
use crate::workspace::Workspace;

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
    /// The codebase index (search capability); cheap to clone into blocking tasks.
    pub search: crate::search::SearchIndex,
    /// Cancelled when the server shuts down; long background work watches it.
    pub shutdown: CancellationToken,
    changes: broadcast::Sender<Change>,
    /// Cancellation handles of runs in progress, by run id (foreground and background).
    active_runs: Mutex<HashMap<String, CancellationToken>>,
}

impl AppState {
    /// Open the workspace and its store. Runs left `running` by a killed server are marked
    /// `interrupted`.
    pub fn open(root: &Path, data_dir: Option<&Path>) -> anyhow::Result<Arc<Self>> {
        let workspace = Workspace::open(root, data_dir)?;
        let store = Arc::new(Store::open(&workspace.db_path())?);
        let (changes, _) = broadcast::channel(1024);
        let search = crate::search::SearchIndex::open(&workspace)?;
        Ok(Arc::new(Self {
            workspace,
            store,
            search,
            shutdown: CancellationToken::new(),
            changes,
            active_runs: Mutex::new(HashMap::new()),
        }))
    }

    /// Register a run in progress and get the token that cancels it. The token is also
    /// cancelled when the server shuts down. Call [`AppState::end_run`] when it ends.
    pub fn begin_run(&self, run_id: &str) -> CancellationToken {
        let token = self.shutdown.child_token();
        if let Ok(mut runs) = self.active_runs.lock() {
            runs.insert(run_id.to_string(), token.clone());
        }
        token
    }

    pub fn end_run(&self, run_id: &str) {
        if let Ok(mut runs) = self.active_runs.lock() {
            runs.remove(run_id);
        }
    }

    /// Cancel a run in progress. Returns false when no such run is in progress here.
    pub fn cancel_run(&self, run_id: &str) -> bool {
        let token = self
            .active_runs
            .lock()
            .ok()
            .and_then(|runs| runs.get(run_id).cloned());
        match token {
            Some(t) => {
                t.cancel();
                true
            }
            None => false,
        }
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
