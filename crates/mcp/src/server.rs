//! One MCP session: [`ApexServer`] routes tools, prompts and resources to the capability
//! faces, keeps the session's log level and resource subscriptions, and forwards the shared
//! change bus to subscribers (legacy `resources/subscribe` and 2026-07-28
//! `subscriptions/listen` alike).

// Logging and resources/subscribe are deprecated in 2026-07-28; 2025-11-25 clients use them.
#![allow(deprecated)]

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use rmcp::handler::server::router::prompt::PromptRouter;
use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::model::{
    CancelTaskParams, CompleteRequestParams, CompleteResult, CompletionInfo, GetTaskParams,
    GetTaskResult, Implementation, ListResourceTemplatesResult, ListResourcesResult, LoggingLevel,
    PaginatedRequestParams, ReadResourceRequestParams, ReadResourceResponse,
    ResourceUpdatedNotificationParam, ServerCapabilities, ServerConfig, SetLevelRequestParams,
    SubscribeRequestParams, SubscriptionFilter, UnsubscribeRequestParams, UpdateTaskParams,
};
use rmcp::service::{NotificationContext, RequestContext, SubscriptionContext};
use rmcp::{ErrorData as McpError, Peer, RoleServer, ServerHandler, prompt_handler, tool_handler};
use tokio::sync::broadcast::error::RecvError;

use super::progress::ProgressTarget;
use super::state::{AppState, Change};
use super::{completion, resources, tasks};

/// Per-session state: what this client asked for.
#[derive(Default)]
pub struct Session {
    pub log_level: Mutex<Option<LoggingLevel>>,
    subscriptions: Mutex<HashSet<String>>,
    forwarding: AtomicBool,
    /// Bus receivers opened when a `subscriptions/listen` is accepted, before rmcp sends the
    /// acknowledgment, so that no change made right after the ack is missed.
    early_receivers: Mutex<Vec<tokio::sync::broadcast::Receiver<Change>>>,
}

/// The MCP server of one session. Cheap to create: the HTTP transport makes one per session.
#[derive(Clone)]
pub struct ApexServer {
    pub state: Arc<AppState>,
    pub session: Arc<Session>,
    tool_router: ToolRouter<Self>,
    prompt_router: PromptRouter<Self>,
}

impl ApexServer {
    pub fn new(state: Arc<AppState>) -> Self {
        Self {
            state,
            session: Arc::new(Session::default()),
            tool_router: Self::tools(),
            prompt_router: Self::prompts(),
        }
    }

    /// Every tool of every capability. A capability adds its router here:
    /// `ToolRouter::new() + Self::search_router() + Self::context_router() + ...`.
    pub fn tools() -> ToolRouter<Self> {
        ToolRouter::new()
            + Self::runs_router()
            + Self::search_router()
            + Self::context_router()
            + Self::synth_router()
            + Self::data_router()
            + Self::agents_router()
            + Self::testrun_router()
    }

    /// Every prompt. A capability adds its router here.
    pub fn prompts() -> PromptRouter<Self> {
        Self::core_prompts() + Self::context_prompts() + Self::agents_prompts()
    }

    /// Where this request's progress and logs go.
    pub fn progress_target(
        &self,
        peer: &Peer<RoleServer>,
        meta: &rmcp::model::RequestMetaObject,
    ) -> ProgressTarget {
        ProgressTarget::new(peer, meta, &self.session.log_level)
    }

    /// Forward bus changes to a handshake-era peer: resource updates for the URIs it
    /// subscribed to, and every list change.
    fn start_legacy_forwarding(&self, peer: Peer<RoleServer>) {
        if self.session.forwarding.swap(true, Ordering::SeqCst) {
            return;
        }
        let mut rx = self.state.subscribe_changes();
        let session = self.session.clone();
        let shutdown = self.state.shutdown.clone();
        tokio::spawn(async move {
            loop {
                let change = tokio::select! {
                    c = rx.recv() => c,
                    _ = shutdown.cancelled() => break,
                };
                let sent = match change {
                    Ok(Change::ResourceUpdated(uri)) => {
                        let wanted = session
                            .subscriptions
                            .lock()
                            .map(|s| s.contains(&uri))
                            .unwrap_or(false);
                        if !wanted {
                            continue;
                        }
                        peer.notify_resource_updated(ResourceUpdatedNotificationParam::new(uri))
                            .await
                    }
                    Ok(Change::ResourceListChanged) => peer.notify_resource_list_changed().await,
                    Err(RecvError::Lagged(_)) => continue,
                    Err(RecvError::Closed) => break,
                };
                if sent.is_err() {
                    break;
                }
            }
        });
    }
}

#[tool_handler(router = self.tool_router)]
#[prompt_handler(router = self.prompt_router)]
impl ServerHandler for ApexServer {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(
            ServerCapabilities::builder()
                .enable_logging()
                .enable_completions()
                .enable_prompts()
                .enable_resources()
                .enable_tools()
                .enable_resources_list_changed()
                .enable_resources_subscribe()
                .enable_tasks()
                .build(),
        )
        .with_server_info(Implementation::new("netra-apex", env!("CARGO_PKG_VERSION")))
        .with_instructions(
            "Netra Apex serves one local workspace: codebase search, shared context bundles, \
             synthetic LLM workload data, test runs and cost-optimization agents. Long tools \
             stream notifications/progress when given a progress token, and answer with a \
             task to clients that declare the io.modelcontextprotocol/tasks extension.",
        )
    }

    async fn complete(
        &self,
        request: CompleteRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<CompleteResult, McpError> {
        let values = completion::complete(&self.state, &request.r#ref, &request.argument);
        let info = CompletionInfo::new(values).map_err(|e| McpError::internal_error(e, None))?;
        Ok(CompleteResult::new(info))
    }

    async fn get_task(
        &self,
        request: GetTaskParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<GetTaskResult, McpError> {
        tasks::get(&self.state, &request.task_id).map(GetTaskResult::new)
    }

    async fn update_task(
        &self,
        request: UpdateTaskParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<(), McpError> {
        tasks::update(&self.state, &request.task_id, request.input_responses)
    }

    async fn cancel_task(
        &self,
        request: CancelTaskParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<(), McpError> {
        // Only task ids here: a run id is cancelled with the cancel_run tool.
        if apex_store::tasks::get(&self.state.store, &request.task_id)
            .map_err(|e| McpError::internal_error(e.to_string(), None))?
            .is_none()
        {
            return Err(McpError::invalid_params(
                format!(
                    "unknown task `{}`: no task of this server has that id",
                    request.task_id
                ),
                None,
            ));
        }
        tasks::cancel(&self.state, &request.task_id).map(|_| ())
    }

    async fn on_initialized(&self, context: NotificationContext<RoleServer>) {
        self.start_legacy_forwarding(context.peer);
    }

    async fn set_level(
        &self,
        request: SetLevelRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<(), McpError> {
        if let Ok(mut level) = self.session.log_level.lock() {
            *level = Some(request.level);
        }
        Ok(())
    }

    async fn list_resources(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, McpError> {
        Ok(ListResourcesResult::with_all_items(resources::list(
            &self.state,
        )))
    }

    async fn list_resource_templates(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListResourceTemplatesResult, McpError> {
        Ok(ListResourceTemplatesResult::with_all_items(
            resources::templates(),
        ))
    }

    async fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, McpError> {
        resources::read(&self.state, &request.uri)
            .await
            .map(Into::into)
    }

    async fn subscribe(
        &self,
        request: SubscribeRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<(), McpError> {
        if let Ok(mut subs) = self.session.subscriptions.lock() {
            subs.insert(request.uri);
        }
        self.start_legacy_forwarding(context.peer);
        Ok(())
    }

    async fn unsubscribe(
        &self,
        request: UnsubscribeRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<(), McpError> {
        if let Ok(mut subs) = self.session.subscriptions.lock() {
            subs.remove(&request.uri);
        }
        Ok(())
    }

    fn accepted_subscription_filter(
        &self,
        requested: &SubscriptionFilter,
    ) -> Option<SubscriptionFilter> {
        if let Ok(mut early) = self.session.early_receivers.lock() {
            early.push(self.state.subscribe_changes());
        }
        Some(requested.supported_by(&self.get_info().capabilities))
    }

    async fn listen(&self, cx: SubscriptionContext) -> Result<(), McpError> {
        let early = self
            .session
            .early_receivers
            .lock()
            .ok()
            .and_then(|mut e| e.pop());
        let mut rx = early.unwrap_or_else(|| self.state.subscribe_changes());
        let accepted = cx.accepted().clone();
        loop {
            let change = tokio::select! {
                c = rx.recv() => c,
                _ = cx.cancelled() => return Ok(()),
                _ = self.state.shutdown.cancelled() => return Ok(()),
            };
            let sent = match change {
                Ok(Change::ResourceUpdated(uri))
                    if accepted
                        .resource_subscriptions
                        .as_ref()
                        .is_some_and(|s| s.contains(&uri)) =>
                {
                    cx.sink().notify_resource_updated(uri).await
                }
                Ok(Change::ResourceListChanged)
                    if accepted.resources_list_changed == Some(true) =>
                {
                    cx.sink().notify_resource_list_changed().await
                }
                Ok(_) | Err(RecvError::Lagged(_)) => continue,
                Err(RecvError::Closed) => return Ok(()),
            };
            if sent.is_err() {
                return Ok(());
            }
        }
    }
}
