//! Runs as a client sees them. Every long tool starts its run with
//! [`ApexServer::begin_call_run`] and answers with [`ApexServer::answer_blocking`] or
//! [`ApexServer::answer_async`] (or starts it in the background with
//! [`ApexServer::spawn_blocking`] / [`ApexServer::spawn_async`]); all of them drive the
//! core's run driver (it records the run, numbers and stores events, relays cancellation and
//! maps the outcome). This file adds only what MCP needs: each event sent as
//! `notifications/progress` when the request carried a progress token (`progress` = seq,
//! strictly increasing) and as a logging notification where the client asked for logs, and,
//! for a client that declared the Tasks extension, the same run answered as a task
//! (see [`crate::tasks`]).
//!
//! The queue to a client is bounded: a client that stops reading gets the newest event in
//! place of those it could not take (progress stays strictly increasing), never an
//! unbounded buffer.

// Logging notifications are deprecated in 2026-07-28 but still what 2025-11-25 clients use.
#![allow(deprecated)]

use std::future::Future;
use std::sync::{Arc, Mutex};

use apex_core::events::{Event, EventSink};
use apex_core::run::{Run, RunFailure, RunKind, RunObserver, RunOutput};
use rmcp::model::{
    CallToolResponse, CallToolResult, CreateTaskResult, LoggingLevel,
    LoggingMessageNotificationParam, ProgressNotificationParam, ProgressToken, RequestMetaObject,
};
use rmcp::service::RequestContext;
use rmcp::{ErrorData as McpError, Peer, RoleServer};
use serde_json::Value;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::reply::fail;
use crate::server::ApexServer;
use crate::tasks::{self, RunTask, TaskEnd};

/// Events queued for one request before older ones are coalesced into the newest.
pub const PROGRESS_QUEUE: usize = 256;

/// Where a request's progress goes: the peer, its progress token, its log level.
#[derive(Clone)]
pub struct ProgressTarget {
    pub peer: Peer<RoleServer>,
    pub token: Option<ProgressToken>,
    pub log_level: Option<LoggingLevel>,
}

impl ProgressTarget {
    pub fn new(
        peer: &Peer<RoleServer>,
        meta: &RequestMetaObject,
        log_level: &Mutex<Option<LoggingLevel>>,
    ) -> Self {
        Self {
            peer: peer.clone(),
            token: meta.get_progress_token(),
            log_level: log_level.lock().ok().and_then(|l| *l),
        }
    }

    /// No progress and no logs (a background run outlives its request).
    pub fn silent(peer: &Peer<RoleServer>) -> Self {
        Self {
            peer: peer.clone(),
            token: None,
            log_level: None,
        }
    }

    fn wants_anything(&self) -> bool {
        self.token.is_some() || self.log_level.is_some()
    }
}

type Queued = (Event, Option<u64>);

/// The run observer that queues events for one client, and the task that sends them.
struct Forwarder {
    tx: mpsc::Sender<Queued>,
    /// The newest event that did not fit the queue; sent once the queue drains.
    overflow: Arc<Mutex<Option<Queued>>>,
}

impl RunObserver for Forwarder {
    fn event(&self, event: &Event, total: Option<u64>) {
        if let Err(mpsc::error::TrySendError::Full(item)) = self.tx.try_send((event.clone(), total))
            && let Ok(mut slot) = self.overflow.lock()
        {
            *slot = Some(item);
        }
    }
}

/// The sending half of a run's progress: flushed before the tool answers, so that progress
/// notifications arrive before the response.
pub struct ProgressFlush {
    closed: CancellationToken,
    task: JoinHandle<()>,
}

impl ProgressFlush {
    async fn flush(self) {
        self.closed.cancel();
        let _ = self.task.await;
    }
}

/// Start forwarding to `target`; `None` when it wants neither progress nor logs.
fn forward_to(target: ProgressTarget) -> Option<(Arc<dyn RunObserver>, ProgressFlush)> {
    if !target.wants_anything() {
        return None;
    }
    let (tx, rx) = mpsc::channel(PROGRESS_QUEUE);
    let overflow = Arc::new(Mutex::new(None));
    let closed = CancellationToken::new();
    let task = tokio::spawn(send_all(rx, overflow.clone(), target, closed.clone()));
    Some((
        Arc::new(Forwarder { tx, overflow }),
        ProgressFlush { closed, task },
    ))
}

async fn send_all(
    mut rx: mpsc::Receiver<Queued>,
    overflow: Arc<Mutex<Option<Queued>>>,
    target: ProgressTarget,
    closed: CancellationToken,
) {
    let mut last_seq = 0;
    loop {
        let next = match rx.try_recv() {
            Ok(item) => Some(item),
            Err(_) => match overflow.lock().ok().and_then(|mut s| s.take()) {
                Some(item) => Some(item),
                None => tokio::select! {
                    biased;
                    m = rx.recv() => m,
                    _ = closed.cancelled() => {
                        rx.try_recv().ok().or_else(|| overflow.lock().ok().and_then(|mut s| s.take()))
                    }
                },
            },
        };
        let Some((event, total)) = next else { break };
        // A coalesced event may already have been passed by the queue.
        if event.seq <= last_seq {
            continue;
        }
        last_seq = event.seq;
        send(&target, &event, total).await;
    }
}

async fn send(target: &ProgressTarget, event: &Event, total: Option<u64>) {
    if let Some(token) = &target.token {
        let mut p = ProgressNotificationParam::new(token.clone(), event.seq as f64)
            .with_message(event.short_message());
        if let Some(t) = total {
            p = p.with_total(t as f64);
        }
        if let Err(e) = target.peer.notify_progress(p).await {
            tracing::debug!(error = %e, "progress notification not delivered");
        }
    }
    if let Some(min) = target.log_level {
        let level = if event.event.ends_with("_error") {
            LoggingLevel::Error
        } else {
            LoggingLevel::Info
        };
        if rank(level) >= rank(min) {
            let data = serde_json::to_value(event).unwrap_or(Value::Null);
            let param = LoggingMessageNotificationParam::new(level, data).with_logger("netra-apex");
            let _ = target.peer.notify_logging_message(param).await;
        }
    }
}

/// Severity order of MCP log levels (the type itself is not `Ord`).
pub fn rank(level: LoggingLevel) -> u8 {
    match level {
        LoggingLevel::Debug => 0,
        LoggingLevel::Info => 1,
        LoggingLevel::Notice => 2,
        LoggingLevel::Warning => 3,
        LoggingLevel::Error => 4,
        LoggingLevel::Critical => 5,
        LoggingLevel::Alert => 6,
        LoggingLevel::Emergency => 7,
    }
}

/// A run started for a client: the run itself, where its progress goes, and the task that
/// answers for it when the call is a task.
pub struct ClientRun {
    pub run: Run,
    flush: Option<ProgressFlush>,
    task: Option<RunTask>,
}

impl ClientRun {
    pub fn id(&self) -> &str {
        self.run.id()
    }

    /// The task answering for this run, when the call is a task.
    pub fn task(&self) -> Option<&RunTask> {
        self.task.as_ref()
    }
}

/// How a long tool's call is answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    /// When the run ends, with progress notifications on the way.
    Foreground,
    /// At once with the run id (`background: true`); the run survives its client.
    Background,
    /// At once with a task (the client declared the Tasks extension).
    Task,
}

/// One call of a long tool: who asked, how it is answered, and the request's own
/// cancellation (which stops a foreground run only).
pub struct LongCall {
    pub tool: &'static str,
    pub peer: Peer<RoleServer>,
    pub meta: RequestMetaObject,
    pub ct: CancellationToken,
    pub answer: Answer,
}

impl LongCall {
    /// The call `ctx` of tool `tool`; `background` is the tool's own argument. A client that
    /// declared the Tasks extension gets a task whatever `background` says.
    pub fn new(tool: &'static str, ctx: &RequestContext<RoleServer>, background: bool) -> Self {
        let tasks = ctx
            .client_capabilities()
            .is_some_and(|c| c.supports_tasks());
        Self {
            tool,
            peer: ctx.peer.clone(),
            meta: ctx.meta.clone(),
            ct: ctx.ct.clone(),
            answer: if tasks {
                Answer::Task
            } else if background {
                Answer::Background
            } else {
                Answer::Foreground
            },
        }
    }

    pub fn is_task(&self) -> bool {
        self.answer == Answer::Task
    }
}

impl ApexServer {
    /// Start a run of `kind` for `call`: its events go to the request as progress in the
    /// foreground, nowhere for a background run or a task (a task reports its latest event
    /// through `tasks/get`). For a task call, the task is opened here too.
    pub fn begin_call_run(
        &self,
        kind: RunKind,
        params: Value,
        call: &LongCall,
    ) -> Result<ClientRun, CallToolResult> {
        let target = match call.answer {
            Answer::Foreground => self.progress_target(&call.peer, &call.meta),
            Answer::Background | Answer::Task => ProgressTarget::silent(&call.peer),
        };
        let mut run = self.begin_run(kind, params, target)?;
        if call.is_task() {
            match tasks::open(&self.state, run.id(), call.tool) {
                Ok(task) => run.task = Some(task),
                Err(e) => {
                    let message = format!("cannot start the {kind} run as a task: {e}");
                    run.run.fail(&message);
                    return Err(fail(message));
                }
            }
        }
        Ok(run)
    }

    /// Run blocking `work` as `run` and answer the call with `render(run_id, outcome)`: when
    /// the run ends in the foreground, or at once with a task that completes with that same
    /// result.
    pub async fn answer_blocking<T, E>(
        &self,
        run: ClientRun,
        call: &LongCall,
        work: impl FnOnce(&dyn EventSink, &CancellationToken) -> Result<T, E> + Send + 'static,
        render: impl FnOnce(&str, Result<T, E>) -> CallToolResult + Send + 'static,
    ) -> Result<CallToolResponse, McpError>
    where
        T: RunOutput + Send + 'static,
        E: RunFailure + Send + 'static,
    {
        let ClientRun { run, flush, task } = run;
        let Some(task) = task else {
            let (id, outcome) = self
                .run_blocking(
                    ClientRun {
                        run,
                        flush,
                        task: None,
                    },
                    &call.ct,
                    work,
                )
                .await?;
            return Ok(render(&id, outcome).into());
        };
        let created = CreateTaskResult::new(task.seed.clone());
        tokio::spawn(async move {
            let run_id = run.id().to_string();
            let end = match run.blocking(work).await {
                Ok(outcome) => task_end(&run_id, outcome, render),
                Err(panicked) => {
                    TaskEnd::Failed(McpError::internal_error(panicked.to_string(), None))
                }
            };
            task.finish(end);
        });
        Ok(CallToolResponse::Task(created))
    }

    /// Like [`ApexServer::answer_blocking`] for async work (test runs).
    pub async fn answer_async<T, E, F>(
        &self,
        run: ClientRun,
        call: &LongCall,
        work: impl FnOnce(Arc<dyn EventSink>, CancellationToken) -> F + Send + 'static,
        render: impl FnOnce(&str, Result<T, E>) -> CallToolResult + Send + 'static,
    ) -> CallToolResponse
    where
        T: RunOutput,
        E: RunFailure,
        F: Future<Output = Result<T, E>> + Send + 'static,
    {
        let ClientRun { run, flush, task } = run;
        let Some(task) = task else {
            let (id, outcome) = self
                .run_async(
                    ClientRun {
                        run,
                        flush,
                        task: None,
                    },
                    &call.ct,
                    work,
                )
                .await;
            return render(&id, outcome).into();
        };
        let created = CreateTaskResult::new(task.seed.clone());
        tokio::spawn(async move {
            let run_id = run.id().to_string();
            let outcome = run.drive(work).await;
            task.finish(task_end(&run_id, outcome, render));
        });
        CallToolResponse::Task(created)
    }

    /// Start a run of `kind` whose events go to `target`. A refusal (too many runs, the store
    /// cannot record it) is an `isError` result the client can read.
    pub fn begin_run(
        &self,
        kind: RunKind,
        params: Value,
        target: ProgressTarget,
    ) -> Result<ClientRun, CallToolResult> {
        let (observer, flush) = match forward_to(target) {
            Some((o, f)) => (Some(o), Some(f)),
            None => (None, None),
        };
        let run = self
            .state
            .runs
            .begin(kind, params, observer)
            .map_err(|e| fail(format!("cannot start the {kind} run: {e}")))?;
        Ok(ClientRun {
            run,
            flush,
            task: None,
        })
    }

    /// Run blocking `work` as run `run` to its end; the client's cancellation of the request
    /// cancels the run. Answers with the run id and the outcome, after every progress
    /// notification was sent.
    pub async fn run_blocking<T, E>(
        &self,
        run: ClientRun,
        request: &CancellationToken,
        work: impl FnOnce(&dyn EventSink, &CancellationToken) -> Result<T, E> + Send + 'static,
    ) -> Result<(String, Result<T, E>), McpError>
    where
        T: RunOutput + Send + 'static,
        E: RunFailure + Send + 'static,
    {
        let ClientRun { run, flush, .. } = run;
        let id = run.id().to_string();
        run.relay_cancel(request.clone());
        let outcome = run.blocking(work).await;
        if let Some(f) = flush {
            f.flush().await;
        }
        let outcome = outcome.map_err(|e| McpError::internal_error(e.to_string(), None))?;
        Ok((id, outcome))
    }

    /// Like [`ApexServer::run_blocking`] for async work (test runs).
    pub async fn run_async<T, E, F>(
        &self,
        run: ClientRun,
        request: &CancellationToken,
        work: impl FnOnce(Arc<dyn EventSink>, CancellationToken) -> F,
    ) -> (String, Result<T, E>)
    where
        T: RunOutput,
        E: RunFailure,
        F: Future<Output = Result<T, E>>,
    {
        let ClientRun { run, flush, .. } = run;
        let id = run.id().to_string();
        run.relay_cancel(request.clone());
        let outcome = run.drive(work).await;
        if let Some(f) = flush {
            f.flush().await;
        }
        (id, outcome)
    }

    /// Run blocking `work` as `run` after the request is answered: a background run
    /// survives its client and is stopped only by `cancel_run` or shutdown.
    pub fn spawn_blocking<T, E>(
        &self,
        run: ClientRun,
        work: impl FnOnce(&dyn EventSink, &CancellationToken) -> Result<T, E> + Send + 'static,
    ) where
        T: RunOutput + Send + 'static,
        E: RunFailure + Send + 'static,
    {
        tokio::spawn(async move {
            let ClientRun { run, flush, .. } = run;
            if let Err(e) = run.blocking(work).await {
                tracing::warn!(error = %e, "background run failed");
            }
            if let Some(f) = flush {
                f.flush().await;
            }
        });
    }

    /// Like [`ApexServer::spawn_blocking`] for async work (test runs).
    pub fn spawn_async<T, E, F>(
        &self,
        run: ClientRun,
        work: impl FnOnce(Arc<dyn EventSink>, CancellationToken) -> F + Send + 'static,
    ) where
        T: RunOutput,
        E: RunFailure,
        F: Future<Output = Result<T, E>> + Send + 'static,
    {
        tokio::spawn(async move {
            let ClientRun { run, flush, .. } = run;
            let _ = run.drive(work).await;
            if let Some(f) = flush {
                f.flush().await;
            }
        });
    }
}

/// How a task reports its run's end: cancelled when the run is recorded as cancelled,
/// otherwise the call's result exactly as the foreground call would have answered.
fn task_end<T: RunOutput, E: RunFailure>(
    run_id: &str,
    outcome: Result<T, E>,
    render: impl FnOnce(&str, Result<T, E>) -> CallToolResult,
) -> TaskEnd {
    let cancelled = match &outcome {
        Ok(out) => out.run_status() == "cancelled",
        Err(e) => e.is_cancelled(),
    };
    if cancelled {
        return TaskEnd::Cancelled;
    }
    TaskEnd::Completed(render(run_id, outcome))
}
