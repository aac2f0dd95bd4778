//! The CLI's side of the run driver: a CLI run is recorded in the workspace's store exactly
//! like a server's (it appears in `apex://runs/{id}`), its events are printed on stderr and
//! Ctrl-C cancels it.

use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use apex_core::events::{Event, EventSink};
use apex_core::run::{RunDriver, RunFailure, RunKind, RunObserver, RunOutput};
use apex_core::workspace::Workspace;
use apex_store::Store;
use serde_json::Value;
use tokio_util::sync::CancellationToken;

/// A workspace opened by a CLI command: its store and a run driver over it.
pub struct Opened {
    pub ws: Workspace,
    pub store: Arc<Store>,
    pub runs: Arc<RunDriver>,
}

/// Open the workspace, its store and a run driver.
pub fn open(root: &Path, data_dir: Option<&Path>) -> anyhow::Result<Opened> {
    let ws = Workspace::open(root, data_dir)?;
    let store = Arc::new(
        Store::open(&ws.db_path())
            .with_context(|| format!("cannot open the store {}", ws.db_path().display()))?,
    );
    let runs = RunDriver::new(store.clone());
    Ok(Opened { ws, store, runs })
}

/// Prints each event as `"<event>: <short text>"` on stderr.
pub fn print_events() -> Arc<dyn RunObserver> {
    Arc::new(|e: &Event, _total: Option<u64>| eprintln!("{}", e.short_message()))
}

impl Opened {
    /// Run blocking `work` as a recorded run of `kind` on `runtime`; Ctrl-C cancels it.
    /// Answers with the run id and the work's outcome.
    pub fn run<T, E>(
        &self,
        runtime: &tokio::runtime::Runtime,
        kind: RunKind,
        params: Value,
        observer: Option<Arc<dyn RunObserver>>,
        work: impl FnOnce(&dyn EventSink, &CancellationToken) -> Result<T, E> + Send + 'static,
    ) -> anyhow::Result<(String, Result<T, E>)>
    where
        T: RunOutput + Send + 'static,
        E: RunFailure + Send + 'static,
    {
        let run = self.runs.begin(kind, params, observer)?;
        let id = run.id().to_string();
        runtime.block_on(async move {
            run.relay_cancel(ctrl_c());
            let outcome = run.blocking(work).await?;
            Ok((id, outcome))
        })
    }
}

/// A token cancelled when the user presses Ctrl-C.
pub fn ctrl_c() -> CancellationToken {
    let token = CancellationToken::new();
    let on_signal = token.clone();
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            on_signal.cancel();
        }
    });
    token
}
