//! The run driver: the one place where long work (indexing, generation, ingest, test runs,
//! agent runs) is recorded, numbered, cancelled and finished, from either face.
//!
//! A face asks the [`RunDriver`] to [`begin`](RunDriver::begin) a run, hands the run's
//! [`EventSink`] and [`CancellationToken`] to the capability library, and lets
//! [`Run::blocking`] (or [`Run::drive`] for async work) record how it ended. The driver does
//! not know SQLite (the store implements [`RunJournal`]) or MCP (the MCP face watches events
//! through a [`RunObserver`] and forwards them as progress notifications).

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};

use serde::Serialize;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use crate::events::{Event, EventSink, new_run_id, now_ts};

/// The kinds of long work. The kind names the run in the store and prefixes its id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RunKind {
    /// Building or updating the codebase index.
    Index,
    /// Generating a synthetic workload dataset or file.
    Generation,
    /// Loading workload logs into a dataset.
    Ingest,
    /// Running the workspace's tests.
    Test,
    /// Running an analysis agent.
    Agent,
}

impl RunKind {
    /// The kind as stored (`runs.kind`).
    pub fn as_str(self) -> &'static str {
        match self {
            RunKind::Index => "index",
            RunKind::Generation => "generation",
            RunKind::Ingest => "ingest",
            RunKind::Test => "test",
            RunKind::Agent => "agent",
        }
    }

    /// The prefix of this kind's run ids.
    pub fn id_prefix(self) -> &'static str {
        match self {
            RunKind::Generation => "gen",
            other => other.as_str(),
        }
    }
}

impl std::fmt::Display for RunKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A journal could not record a run or one of its events.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct JournalError(pub String);

/// Where runs and their events are kept (the store implements it on SQLite).
pub trait RunJournal: Send + Sync {
    /// Record a new run in state `running`.
    fn create_run(&self, id: &str, kind: &str, params: &Value) -> Result<(), JournalError>;
    /// Record one event of a run.
    fn append_event(&self, event: &Event) -> Result<(), JournalError>;
    /// Record how a run ended and its result.
    fn finish_run(
        &self,
        id: &str,
        status: &str,
        result: Option<&Value>,
    ) -> Result<(), JournalError>;
}

/// Watches a run's events as they are stored: the MCP face forwards them as progress, the
/// CLI prints them. Called on the emitting thread, in `seq` order.
pub trait RunObserver: Send + Sync {
    /// One stored event and the run's expected total of events, when known.
    fn event(&self, event: &Event, total: Option<u64>);
}

impl<F: Fn(&Event, Option<u64>) + Send + Sync> RunObserver for F {
    fn event(&self, event: &Event, total: Option<u64>) {
        self(event, total)
    }
}

/// The value a finished run leaves in the journal, and how its outcome maps to a status.
pub trait RunOutput {
    /// The status of a run that returned this (default `completed`; a test run says
    /// `passed`, `failed`, `timed_out`...).
    fn run_status(&self) -> String {
        "completed".to_string()
    }
    /// The run's stored result (`apex://runs/{id}`).
    fn run_result(&self) -> Value;
}

/// Work that may have had nothing to do (an index that was already built) leaves `null`.
impl<T: RunOutput> RunOutput for Option<T> {
    fn run_status(&self) -> String {
        self.as_ref()
            .map_or_else(|| "completed".to_string(), RunOutput::run_status)
    }
    fn run_result(&self) -> Value {
        self.as_ref().map_or(Value::Null, RunOutput::run_result)
    }
}

/// A capability error as a run ends with it: cancelled, or failed with a message.
pub trait RunFailure: std::fmt::Display {
    /// True when the run stopped because it was cancelled.
    fn is_cancelled(&self) -> bool;
    /// The status of a run that failed this way (default `failed`; test runs say `errored`).
    fn failed_status(&self) -> &'static str {
        "failed"
    }
}

/// How a run ended, as recorded.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct RunEnd {
    pub run_id: String,
    pub kind: RunKind,
    pub status: String,
    pub result: Value,
}

/// The worker thread of a run panicked; the run is recorded as failed.
#[derive(Debug, thiserror::Error)]
#[error("the {kind} run {run_id} stopped on an internal error: {message}")]
pub struct Panicked {
    pub run_id: String,
    pub kind: RunKind,
    pub message: String,
}

/// Why a run could not start.
#[derive(Debug, thiserror::Error)]
pub enum BeginError {
    #[error(
        "busy: {limit} runs are in progress ({running}); wait for one to finish or stop one with cancel_run"
    )]
    Busy { limit: usize, running: String },
    #[error("cannot record the run: {0}")]
    Journal(#[from] JournalError),
}

/// A run in progress, as [`RunDriver::active`] lists it.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ActiveRun {
    pub run_id: String,
    pub kind: RunKind,
    pub started_at: String,
    /// The newest event's short message (`"<event>: <text>"`), if any.
    pub latest: Option<String>,
}

struct Entry {
    kind: RunKind,
    started_at: String,
    cancel: CancellationToken,
    latest: Arc<Mutex<Option<String>>>,
}

type FinishHook = Box<dyn Fn(&RunEnd) + Send + Sync>;

/// Records, numbers, cancels and finishes every run of one process.
pub struct RunDriver {
    journal: Arc<dyn RunJournal>,
    active: Mutex<HashMap<String, Entry>>,
    shutdown: CancellationToken,
    max_concurrent: usize,
    on_finish: Mutex<Vec<FinishHook>>,
}

/// How many runs may be in progress at once unless configured otherwise.
pub const DEFAULT_MAX_CONCURRENT_RUNS: usize = 16;

impl RunDriver {
    pub fn new(journal: Arc<dyn RunJournal>) -> Arc<Self> {
        Self::with_limit(journal, DEFAULT_MAX_CONCURRENT_RUNS)
    }

    /// A driver that refuses a run while `max_concurrent` are in progress.
    pub fn with_limit(journal: Arc<dyn RunJournal>, max_concurrent: usize) -> Arc<Self> {
        Arc::new(Self {
            journal,
            active: Mutex::new(HashMap::new()),
            shutdown: CancellationToken::new(),
            max_concurrent: max_concurrent.max(1),
            on_finish: Mutex::new(Vec::new()),
        })
    }

    /// Call `hook` after every run ends and is recorded (the MCP face tells subscribers).
    pub fn on_finish(&self, hook: impl Fn(&RunEnd) + Send + Sync + 'static) {
        if let Ok(mut hooks) = self.on_finish.lock() {
            hooks.push(Box::new(hook));
        }
    }

    /// Record a new run of `kind` and register it for cancellation. `observer` sees each
    /// event after it is stored.
    pub fn begin(
        self: &Arc<Self>,
        kind: RunKind,
        params: Value,
        observer: Option<Arc<dyn RunObserver>>,
    ) -> Result<Run, BeginError> {
        let run_id = new_run_id(kind.id_prefix());
        let cancel = self.shutdown.child_token();
        let latest = Arc::new(Mutex::new(None));
        {
            let mut active = self
                .active
                .lock()
                .map_err(|_| JournalError("the run table's lock is poisoned".into()))?;
            if active.len() >= self.max_concurrent {
                let mut running: Vec<String> = active
                    .iter()
                    .map(|(id, e)| format!("{id} ({})", e.kind))
                    .collect();
                running.sort();
                return Err(BeginError::Busy {
                    limit: self.max_concurrent,
                    running: running.join(", "),
                });
            }
            self.journal.create_run(&run_id, kind.as_str(), &params)?;
            active.insert(
                run_id.clone(),
                Entry {
                    kind,
                    started_at: now_ts(),
                    cancel: cancel.clone(),
                    latest: latest.clone(),
                },
            );
        }
        let log = Arc::new(RunLog {
            journal: self.journal.clone(),
            run_id: run_id.clone(),
            state: Mutex::new(LogState::default()),
            latest,
            observer,
            ended: CancellationToken::new(),
        });
        Ok(Run {
            driver: self.clone(),
            run_id,
            kind,
            log,
            cancel,
            ended: false,
        })
    }

    /// Cancel a run in progress. False when no such run is in progress in this process.
    pub fn cancel(&self, run_id: &str) -> bool {
        let token = self
            .active
            .lock()
            .ok()
            .and_then(|a| a.get(run_id).map(|e| e.cancel.clone()));
        match token {
            Some(t) => {
                t.cancel();
                true
            }
            None => false,
        }
    }

    /// Cancel every run in progress (the server is shutting down).
    pub fn shutdown(&self) {
        self.shutdown.cancel();
    }

    /// The runs in progress, oldest first.
    pub fn active(&self) -> Vec<ActiveRun> {
        let Ok(active) = self.active.lock() else {
            return Vec::new();
        };
        let mut runs: Vec<ActiveRun> = active
            .iter()
            .map(|(id, e)| ActiveRun {
                run_id: id.clone(),
                kind: e.kind,
                started_at: e.started_at.clone(),
                latest: e.latest.lock().ok().and_then(|l| l.clone()),
            })
            .collect();
        runs.sort_by(|a, b| (&a.started_at, &a.run_id).cmp(&(&b.started_at, &b.run_id)));
        runs
    }

    /// One run in progress, if it is.
    pub fn active_run(&self, run_id: &str) -> Option<ActiveRun> {
        self.active().into_iter().find(|r| r.run_id == run_id)
    }

    fn end(&self, run_id: &str, kind: RunKind, status: &str, result: Value) {
        if let Err(e) = self.journal.finish_run(run_id, status, Some(&result)) {
            tracing::warn!(run_id, error = %e, "could not record the run's end");
        }
        if let Ok(mut active) = self.active.lock() {
            active.remove(run_id);
        }
        let end = RunEnd {
            run_id: run_id.to_string(),
            kind,
            status: status.to_string(),
            result,
        };
        if let Ok(hooks) = self.on_finish.lock() {
            for hook in hooks.iter() {
                hook(&end);
            }
        }
    }
}

/// One run in progress. End it with [`Run::blocking`], [`Run::drive`] or [`Run::finish`];
/// a run dropped before it ends is recorded as failed, so none stays `running`.
pub struct Run {
    driver: Arc<RunDriver>,
    run_id: String,
    kind: RunKind,
    log: Arc<RunLog>,
    cancel: CancellationToken,
    ended: bool,
}

impl Run {
    pub fn id(&self) -> &str {
        &self.run_id
    }

    pub fn kind(&self) -> RunKind {
        self.kind
    }

    /// The sink to hand to the capability library: numbers, stores and relays each event.
    pub fn sink(&self) -> Arc<dyn EventSink> {
        self.log.clone()
    }

    /// The token the library watches: cancelled by `cancel_run`, by the server's shutdown
    /// and by a relayed request cancellation.
    pub fn cancel_token(&self) -> CancellationToken {
        self.cancel.clone()
    }

    /// Cancel the run when `request` is cancelled (a foreground call whose client gave up).
    /// The relay ends with the run.
    pub fn relay_cancel(&self, request: CancellationToken) {
        let run = self.cancel.clone();
        let ended = self.log.ended.clone();
        tokio::spawn(async move {
            tokio::select! {
                _ = request.cancelled() => run.cancel(),
                _ = run.cancelled() => {}
                _ = ended.cancelled() => {}
            }
        });
    }

    /// Run `work` on the blocking pool and record how it ended.
    pub async fn blocking<T, E>(
        self,
        work: impl FnOnce(&dyn EventSink, &CancellationToken) -> Result<T, E> + Send + 'static,
    ) -> Result<Result<T, E>, Panicked>
    where
        T: RunOutput + Send + 'static,
        E: RunFailure + Send + 'static,
    {
        let sink = self.sink();
        let cancel = self.cancel.clone();
        let joined = tokio::task::spawn_blocking(move || work(sink.as_ref(), &cancel)).await;
        match joined {
            Ok(outcome) => {
                self.finish(&outcome);
                Ok(outcome)
            }
            Err(e) => Err(self.panicked(e.to_string())),
        }
    }

    /// Run async `work` to its end and record how it ended.
    pub async fn drive<T, E, F>(
        self,
        work: impl FnOnce(Arc<dyn EventSink>, CancellationToken) -> F,
    ) -> Result<T, E>
    where
        T: RunOutput,
        E: RunFailure,
        F: Future<Output = Result<T, E>>,
    {
        let outcome = work(self.sink(), self.cancel.clone()).await;
        self.finish(&outcome);
        outcome
    }

    /// Record how the run ended.
    pub fn finish<T: RunOutput, E: RunFailure>(mut self, outcome: &Result<T, E>) {
        let (status, result) = match outcome {
            Ok(out) => (out.run_status(), out.run_result()),
            Err(e) if e.is_cancelled() => (
                "cancelled".to_string(),
                json!({"error": format!("the run was cancelled: {e}")}),
            ),
            Err(e) => (
                e.failed_status().to_string(),
                json!({"error": e.to_string()}),
            ),
        };
        self.end(&status, result);
    }

    /// Record a run that failed before its work could start (e.g. its plan could not be
    /// stored).
    pub fn fail(mut self, error: impl std::fmt::Display) {
        self.end("failed", json!({"error": error.to_string()}));
    }

    fn panicked(mut self, message: String) -> Panicked {
        let p = Panicked {
            run_id: self.run_id.clone(),
            kind: self.kind,
            message,
        };
        self.end("failed", json!({"error": p.to_string()}));
        p
    }

    fn end(&mut self, status: &str, result: Value) {
        if self.ended {
            return;
        }
        self.ended = true;
        self.log.ended.cancel();
        self.driver.end(&self.run_id, self.kind, status, result);
    }
}

impl Drop for Run {
    fn drop(&mut self) {
        self.end(
            "failed",
            json!({"error": "the run was abandoned before it finished"}),
        );
    }
}

#[derive(Default)]
struct LogState {
    seq: u64,
    total: Option<u64>,
}

/// The event log of one run: numbers, timestamps and stores each event, then hands it to
/// the run's observer. The lock spans numbering and storing, so `seq` order is storage
/// order is notification order.
struct RunLog {
    journal: Arc<dyn RunJournal>,
    run_id: String,
    state: Mutex<LogState>,
    latest: Arc<Mutex<Option<String>>>,
    observer: Option<Arc<dyn RunObserver>>,
    /// Cancelled when the run ends (stops request relays).
    ended: CancellationToken,
}

impl EventSink for RunLog {
    fn emit(&self, event: &str, data: Value) {
        let Ok(mut state) = self.state.lock() else {
            return;
        };
        state.seq += 1;
        let ev = Event {
            event: event.to_string(),
            run_id: self.run_id.clone(),
            seq: state.seq,
            ts: now_ts(),
            data,
        };
        if let Err(e) = self.journal.append_event(&ev) {
            tracing::warn!(run_id = %self.run_id, error = %e, "could not store event");
        }
        let total = state.total.map(|t| t.max(state.seq));
        if let Ok(mut latest) = self.latest.lock() {
            *latest = Some(ev.short_message());
        }
        // The observer is called under the lock: events reach it in seq order.
        if let Some(observer) = &self.observer {
            observer.event(&ev, total);
        }
    }

    fn expect_total(&self, total_events: u64) {
        if let Ok(mut state) = self.state.lock() {
            state.total = Some(total_events);
        }
    }

    fn expect_more(&self, more: u64) {
        if let Ok(mut state) = self.state.lock() {
            state.total = Some(state.seq + more);
        }
    }
}
