//! The context face: tools `context_save`, `context_get`, `context_list`, `context_delete`,
//! the resources `apex://contexts` and `apex://contexts/{name}`, and the `use_context`
//! prompt. Each save or delete is published on the change bus so every subscribed session
//! hears `notifications/resources/updated` (and `list_changed`).

use std::sync::Arc;

use rmcp::model::{CallToolResult, PromptMessage, ReadResourceResult, ResourceContents, Role};
use rmcp::{ErrorData as McpError, prompt, prompt_router, tool, tool_router};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::json;

use super::{Parameters, fail, ok};
use crate::reply;
use crate::server::ApexServer;
use crate::state::AppState;
use crate::uris::{LIST_URI, bundle_uri};
use apex_context::{self as context, Anchors, ContextError, ItemSpec, SaveRequest};
use apex_search::SearchIndex;

/// Arguments of `context_save`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ContextSaveArgs {
    /// Bundle name: 1-64 characters of a-z, 0-9, '.', '_', '-'. An existing name gets a new version.
    pub name: String,
    /// One line saying what the bundle is for.
    #[serde(default)]
    pub description: String,
    /// Code locations in reading order: {path, start_line, end_line} or {symbol, path?}, each with an optional note.
    #[serde(default)]
    pub items: Vec<ItemSpec>,
    /// Free notes in markdown: what was learned, what to do next.
    #[serde(default)]
    pub notes: String,
    /// Tags for filtering with context_list (lowercase, e.g. `auth`, `bug:123`).
    #[serde(default)]
    pub tags: Vec<String>,
}

/// Arguments of `context_get`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ContextGetArgs {
    /// Bundle name.
    pub name: String,
    /// Version to read (default: the newest).
    #[serde(default)]
    pub version: Option<u32>,
    /// Token budget (about 4 characters a token); items past it are listed, not shown. Default: no limit.
    #[serde(default)]
    pub max_tokens: Option<usize>,
}

/// Arguments of `context_list`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ContextListArgs {
    /// Only bundles carrying this tag.
    #[serde(default)]
    pub tag: Option<String>,
}

/// Arguments of `context_delete`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ContextDeleteArgs {
    /// Bundle to delete, with its whole history.
    pub name: String,
}

/// Arguments of the `use_context` prompt (prompt arguments are strings).
#[derive(Debug, Deserialize, JsonSchema)]
pub struct UseContextArgs {
    /// Bundle to load.
    pub name: String,
    /// What you want to do with it (optional).
    #[serde(default)]
    pub task: Option<String>,
    /// Token budget for the bundle (optional, a number).
    #[serde(default)]
    pub max_tokens: Option<String>,
}

/// A library error as a tool result: user-fixable errors are `isError` results; a store
/// failure is the server's fault.
fn context_error(e: ContextError) -> Result<CallToolResult, McpError> {
    match e {
        // A full disk is the user's to fix, not a server fault.
        ContextError::Store(s @ apex_store::StoreError::Full { .. }) => Ok(fail(s)),
        ContextError::Store(s) => Err(McpError::internal_error(s.to_string(), None)),
        other => Ok(fail(other)),
    }
}

fn joined(e: tokio::task::JoinError) -> McpError {
    McpError::internal_error(format!("context work failed: {e}"), None)
}

/// Run library work that reads files and SQLite off the async threads.
async fn blocking<T: Send + 'static>(
    state: &Arc<AppState>,
    f: impl FnOnce(&AppState) -> T + Send + 'static,
) -> Result<T, McpError> {
    let state = state.clone();
    tokio::task::spawn_blocking(move || f(&state))
        .await
        .map_err(joined)
}

/// Tell every subscriber that a bundle and the list changed.
pub fn publish_bundle_change(state: &AppState, name: &str) {
    state.publish_bundle_change(name);
}

/// Anchoring over the server's workspace, with its search index (when it is available) to
/// find symbols by name.
fn anchors<'a>(state: &'a AppState, index: &'a Option<SearchIndex>) -> Anchors<'a> {
    match index {
        Some(index) => Anchors::with_index(&state.workspace, index),
        None => Anchors::new(&state.workspace),
    }
}

#[tool_router(router = context_router, vis = "pub(crate)")]
impl ApexServer {
    #[tool(
        description = "Save a named bundle of code locations (path+lines or symbol) and markdown notes for any client to reload. Saving an existing name adds a version. Secrets are redacted."
    )]
    async fn context_save(
        &self,
        Parameters(args): Parameters<ContextSaveArgs>,
    ) -> Result<CallToolResult, McpError> {
        let req = SaveRequest {
            name: args.name,
            description: args.description,
            tags: args.tags,
            notes: args.notes,
            items: args.items,
        };
        let out = blocking(&self.state, move |s| {
            context::save(&s.store, &anchors(s, &s.search.get().ok()), &req)
        })
        .await?;
        let out = match out {
            Ok(o) => o,
            Err(e) => return context_error(e),
        };
        publish_bundle_change(&self.state, &out.name);
        let mut text = format!(
            "Saved context `{}` version {} ({} item{}).",
            out.name,
            out.version,
            out.items,
            if out.items == 1 { "" } else { "s" }
        );
        for r in &out.redactions {
            text.push_str(&format!(
                "\nRedacted {} {} ({}).",
                r.count,
                r.kind,
                r.places.join(", ")
            ));
        }
        Ok(ok(text, &out))
    }

    #[tool(
        description = "Load a context bundle: every item re-checked against the code now (fresh/moved/stale/missing, with diffs), notes, within max_tokens. Any version."
    )]
    async fn context_get(
        &self,
        Parameters(args): Parameters<ContextGetArgs>,
    ) -> Result<CallToolResult, McpError> {
        let view = blocking(&self.state, move |s| {
            context::get(
                &s.store,
                &anchors(s, &s.search.get().ok()),
                &args.name,
                args.version,
                args.max_tokens,
            )
        })
        .await?;
        match view {
            Ok(v) => Ok(ok(v.text.clone(), &v)),
            Err(e) => context_error(e),
        }
    }

    #[tool(description = "List saved context bundles (newest version of each), optionally by tag.")]
    async fn context_list(
        &self,
        Parameters(args): Parameters<ContextListArgs>,
    ) -> Result<CallToolResult, McpError> {
        let list = blocking(&self.state, move |s| {
            context::list(&s.store, args.tag.as_deref())
        })
        .await?;
        let list = match list {
            Ok(l) => l,
            Err(e) => return context_error(e),
        };
        let text = if list.is_empty() {
            "No context bundles yet; context_save makes one.".to_string()
        } else {
            list.iter()
                .map(|b| {
                    format!(
                        "- `{}` v{} · {} item(s){}{}",
                        b.name,
                        b.version,
                        b.items,
                        if b.tags.is_empty() {
                            String::new()
                        } else {
                            format!(" · [{}]", b.tags.join(", "))
                        },
                        if b.description.is_empty() {
                            String::new()
                        } else {
                            format!(" — {}", b.description)
                        }
                    )
                })
                .collect::<Vec<_>>()
                .join("\n")
        };
        Ok(ok(text, &json!({ "bundles": list })))
    }

    #[tool(description = "Delete a context bundle and its whole version history.")]
    async fn context_delete(
        &self,
        Parameters(args): Parameters<ContextDeleteArgs>,
    ) -> Result<CallToolResult, McpError> {
        let name = args.name.clone();
        let removed = blocking(&self.state, move |s| context::delete(&s.store, &args.name)).await?;
        match removed {
            Ok(n) => {
                publish_bundle_change(&self.state, &name);
                Ok(ok(
                    format!("Deleted context `{name}` and its {n} version(s)."),
                    &json!({"name": name, "deleted_versions": n}),
                ))
            }
            Err(e) => context_error(e),
        }
    }
}

#[prompt_router(router = "context_prompts", vis = "pub(crate)")]
impl ApexServer {
    /// Load a context bundle into the conversation.
    #[prompt(
        name = "use_context",
        description = "Load a saved context bundle (code re-checked against the workspace, notes) into the conversation."
    )]
    async fn use_context(
        &self,
        rmcp::handler::server::wrapper::Parameters(args): rmcp::handler::server::wrapper::Parameters<UseContextArgs>,
    ) -> Result<Vec<PromptMessage>, McpError> {
        let max_tokens = match args.max_tokens.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(s) => Some(s.parse::<usize>().map_err(|_| {
                McpError::invalid_params(
                    format!("`max_tokens` must be a positive number of tokens, got `{s}`"),
                    None,
                )
            })?),
        };
        let name = args.name.clone();
        let view = blocking(&self.state, move |s| {
            context::get(
                &s.store,
                &anchors(s, &s.search.get().ok()),
                &name,
                None,
                max_tokens,
            )
        })
        .await?
        .map_err(|e| match e {
            ContextError::Store(s) => McpError::internal_error(s.to_string(), None),
            other => McpError::invalid_params(other.to_string(), None),
        })?;
        let task = args
            .task
            .as_deref()
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(|t| format!("\n\nThe task: {t}"))
            .unwrap_or_default();
        let changed = view.counts.moved + view.counts.stale + view.counts.missing;
        let caution = if changed > 0 {
            format!(
                " {changed} item(s) changed since the bundle was saved (marked moved, stale or missing): trust the current text and diffs shown, and re-read the code before relying on the notes about them."
            )
        } else {
            String::new()
        };
        Ok(vec![PromptMessage::new_text(
            Role::User,
            format!(
                "Use the saved context bundle `{}` (version {}) below as the starting point: it records which places in this codebase matter and what was learned about them.{caution}{task}\n\n{}",
                view.name, view.version, view.text
            ),
        )])
    }
}

/// `apex://contexts`: every bundle's newest version.
pub fn read_list(state: &AppState) -> Result<ReadResourceResult, McpError> {
    let list = context::list(&state.store, None).map_err(reply::internal)?;
    reply::json(LIST_URI, &json!({ "bundles": list }))
}

/// `apex://contexts/{name}`: the newest version re-resolved, as markdown and as JSON.
pub fn read_bundle(
    state: &AppState,
    uri: &str,
    name: &str,
) -> Result<ReadResourceResult, McpError> {
    let view = match context::get(
        &state.store,
        &anchors(state, &state.search.get().ok()),
        name,
        None,
        None,
    ) {
        Ok(v) => v,
        Err(ContextError::Store(e)) => return Err(reply::internal(e)),
        Err(e) => {
            return Err(McpError::resource_not_found(
                format!("no resource at `{uri}`: {e}"),
                None,
            ));
        }
    };
    let body = serde_json::to_string_pretty(&view).map_err(reply::internal)?;
    Ok(ReadResourceResult::new(vec![
        ResourceContents::text(view.text.clone(), uri).with_mime_type("text/markdown"),
        ResourceContents::text(body, uri).with_mime_type("application/json"),
    ]))
}

/// The bundle resources for `resources/list`: the list and one per bundle.
pub fn list_resources(state: &AppState) -> Vec<rmcp::model::Resource> {
    use rmcp::model::Resource;
    let mut out = vec![
        Resource::new(LIST_URI, "contexts")
            .with_description("Saved context bundles (subscribable)")
            .with_mime_type("application/json"),
    ];
    for b in context::list(&state.store, None).unwrap_or_default() {
        out.push(
            Resource::new(bundle_uri(&b.name), format!("context {}", b.name))
                .with_description(if b.description.is_empty() {
                    format!("Context bundle v{}", b.version)
                } else {
                    b.description.clone()
                })
                .with_mime_type("text/markdown"),
        );
    }
    out
}

/// Bundle names starting with `prefix`, for completion.
pub fn complete_names(state: &AppState, prefix: &str) -> Vec<String> {
    context::list(&state.store, None)
        .unwrap_or_default()
        .into_iter()
        .map(|b| b.name)
        .filter(|n| n.starts_with(prefix))
        .collect()
}
