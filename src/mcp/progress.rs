//! Turning a run's events into MCP traffic: every event is stored (through
//! [`RunLog`]), sent as `notifications/progress` when the request carried a progress token
//! (`progress` = seq, strictly increasing), and as a logging notification where the client
//! asked for logs.

// Logging notifications are deprecated in 2026-07-28 but still what 2025-11-25 clients use.
#![allow(deprecated)]

use std::sync::{Arc, Mutex};

use rmcp::model::{
    LoggingLevel, LoggingMessageNotificationParam, ProgressNotificationParam, ProgressToken,
    RequestMetaObject,
};
use rmcp::{Peer, RoleServer};
use serde_json::Value;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::state::AppState;
use crate::events::{Event, EventSink};
use crate::store::{StoreError, runs};

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
}

/// A run in progress: its stored event log and the task that forwards events to the client.
pub struct RunReporter {
    log: Arc<runs::RunLog>,
    closed: CancellationToken,
    forwarder: JoinHandle<()>,
}

impl RunReporter {
    /// Register run `run_id` of `kind` and start forwarding its events to `target`.
    pub fn start(
        state: &AppState,
        run_id: &str,
        kind: &str,
        params: &Value,
        target: ProgressTarget,
    ) -> Result<Self, StoreError> {
        runs::create_run(&state.store, run_id, kind, params)?;
        let (tx, rx) = mpsc::unbounded_channel::<(Event, Option<u64>)>();
        let log = runs::RunLog::new(state.store.clone(), run_id).with_listener(move |e, total| {
            let _ = tx.send((e.clone(), total));
        });
        let closed = CancellationToken::new();
        let forwarder = tokio::spawn(forward(rx, target, closed.clone()));
        Ok(Self {
            log: Arc::new(log),
            closed,
            forwarder,
        })
    }

    /// The sink to hand to the capability library.
    pub fn sink(&self) -> Arc<dyn EventSink> {
        self.log.clone()
    }

    pub fn run_id(&self) -> &str {
        self.log.run_id()
    }

    /// Record how the run ended and wait until every event has been sent to the client,
    /// so that progress notifications arrive before the tool's response.
    pub async fn finish(self, state: &AppState, status: &str, result: Option<&Value>) {
        if let Err(e) = runs::finish_run(&state.store, self.log.run_id(), status, result) {
            tracing::warn!(run_id = %self.log.run_id(), error = %e, "could not record run end");
        }
        self.closed.cancel();
        let _ = self.forwarder.await;
    }
}

async fn forward(
    mut rx: mpsc::UnboundedReceiver<(Event, Option<u64>)>,
    target: ProgressTarget,
    closed: CancellationToken,
) {
    loop {
        let next = tokio::select! {
            biased;
            m = rx.recv() => m,
            _ = closed.cancelled() => rx.try_recv().ok(),
        };
        let Some((event, total)) = next else { break };
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
