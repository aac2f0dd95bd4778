//! The codebase search tools: `search_code`, `find_symbol`, `find_references`, `read_code`,
//! `outline`, `index_status`, `reindex`, plus the `apex://index/status` and
//! `apex://files/{path}` resource reads.
//!
//! Handlers parse, call one [`apex_search::SearchIndex`] method on a blocking thread and
//! render text plus the same data as `structuredContent`. A query on a workspace that was
//! never indexed first builds the index as an `index` run whose events stream as progress.

use rmcp::handler::server::tool::InputResponses;
use rmcp::model::{
    CallToolResponse, CallToolResult, ElicitationSchema, ReadResourceResult, RequestMetaObject,
};
use rmcp::service::RequestContext;
use rmcp::{ErrorData as McpError, Peer, RoleServer, tool, tool_router};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::json;
use tokio_util::sync::CancellationToken;

use super::{Parameters, fail, ok};
use crate::elicit;
use crate::progress::LongCall;
use crate::reply;
use crate::served_index::IndexProblem;
use crate::server::ApexServer;
use crate::state::AppState;
use apex_core::run::RunKind;
use apex_search::{
    CodeExcerpt, FindSymbolRequest, IndexStatus, Outline, OutlineNode, ReadRequest,
    ReferenceRequest, References, SearchError, SearchIndex, SearchRequest, SearchResults,
    SymbolResults,
};

/// Arguments of `outline`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OutlineArgs {
    /// File path relative to the workspace root.
    pub path: String,
    /// Token budget (1-20000, default 4000); symbols past it are counted, not listed.
    pub max_tokens: Option<usize>,
}

/// Arguments of `index_status` (none).
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct IndexStatusArgs {}

#[tool_router(router = search_router, vis = "pub(crate)")]
impl ApexServer {
    /// Search the workspace's code.
    #[tool(
        description = "Search code in the workspace: ranked text and definitions (mode auto), text, regex or symbol. Hits: path, line, symbol, snippet with context, score; paged by cursor within max_tokens."
    )]
    async fn search_code(
        &self,
        Parameters(req): Parameters<SearchRequest>,
        meta: RequestMetaObject,
        peer: Peer<RoleServer>,
        ct: CancellationToken,
    ) -> Result<CallToolResult, McpError> {
        if req.query.trim().is_empty() {
            return Ok(fail(SearchError::EmptyQuery { field: "query" }));
        }
        if let Err(r) = self.index_first(&meta, &peer, &ct).await {
            return Ok(r);
        }
        Ok(match self.blocking(move |s| s.search_code(&req)).await {
            Ok(r) => ok(render_search(&r), &r),
            Err(e) => fail(e),
        })
    }

    /// Find definitions by name.
    #[tool(
        description = "Find definitions by name (exact, qualified like Store::open, or fuzzy), optionally by kind and language: name, kind, path, line, end_line, signature, container; include_body adds the code. Lines shaped like a definition that the symbol index lacks come as match text_fallback."
    )]
    async fn find_symbol(
        &self,
        Parameters(req): Parameters<FindSymbolRequest>,
        meta: RequestMetaObject,
        peer: Peer<RoleServer>,
        ct: CancellationToken,
    ) -> Result<CallToolResult, McpError> {
        if req.name.trim().is_empty() {
            return Ok(fail(SearchError::EmptyQuery { field: "name" }));
        }
        if let Err(r) = self.index_first(&meta, &peer, &ct).await {
            return Ok(r);
        }
        Ok(match self.blocking(move |s| s.find_symbol(&req)).await {
            Ok(r) => ok(render_symbols(&r), &r),
            Err(e) => fail(e),
        })
    }

    /// Find occurrences of an identifier.
    #[tool(
        description = "List whole-identifier occurrences of a name across the workspace, the defining line marked and listed first: path, line, column, snippet."
    )]
    async fn find_references(
        &self,
        Parameters(req): Parameters<ReferenceRequest>,
        meta: RequestMetaObject,
        peer: Peer<RoleServer>,
        ct: CancellationToken,
    ) -> Result<CallToolResult, McpError> {
        if req.name.trim().is_empty() {
            return Ok(fail(SearchError::EmptyQuery { field: "name" }));
        }
        if let Err(r) = self.index_first(&meta, &peer, &ct).await {
            return Ok(r);
        }
        Ok(
            match self.blocking(move |s| s.find_references(&req)).await {
                Ok(r) => ok(render_references(&r), &r),
                Err(e) => fail(e),
            },
        )
    }

    /// Read numbered lines of a file.
    #[tool(
        description = "Read a file's numbered lines: a line range (start_line/end_line) or one symbol's definition, within max_tokens; says where to continue when cut."
    )]
    async fn read_code(
        &self,
        Parameters(req): Parameters<ReadRequest>,
    ) -> Result<CallToolResult, McpError> {
        Ok(match self.blocking(move |s| s.read_code(&req)).await {
            Ok(r) => ok(render_excerpt(&r), &r),
            Err(e) => fail(e),
        })
    }

    /// The symbol tree of one file.
    #[tool(
        description = "Outline one file: its symbols (functions, classes, methods, ...) as a tree with kinds, line spans and signatures."
    )]
    async fn outline(
        &self,
        Parameters(a): Parameters<OutlineArgs>,
    ) -> Result<CallToolResult, McpError> {
        let (path, max) = (a.path, a.max_tokens);
        Ok(match self.blocking(move |s| s.outline(&path, max)).await {
            Ok(r) => ok(render_outline(&r), &r),
            Err(e) => fail(e),
        })
    }

    /// Statistics of the index.
    #[tool(
        description = "Index statistics: files, symbols, bytes, languages, skipped files, last update, whether a watcher keeps it fresh."
    )]
    async fn index_status(
        &self,
        Parameters(_a): Parameters<IndexStatusArgs>,
    ) -> Result<CallToolResult, McpError> {
        Ok(match self.state.search.get() {
            Ok(index) => match index.index_status() {
                Ok(s) => match self.state.search.problem() {
                    Some(why) => ok(
                        format!("{why}\n{}", render_status(&s)),
                        &with_problem(&s, &why),
                    ),
                    None => ok(render_status(&s), &s),
                },
                Err(e) => fail(SearchFailure::from(e)),
            },
            Err(why) => ok(why.to_string(), &unavailable_status(&self.state, &why)),
        })
    }

    /// Update or rebuild the index.
    #[tool(
        description = "Update the index (incremental: changed files only) or rebuild it (full: true), with progress per batch of files. Cancellable with cancel_run.",
        meta = crate::tasks::task_support()
    )]
    async fn reindex(
        &self,
        Parameters(a): Parameters<apex_search::ReindexArgs>,
        InputResponses(answers): InputResponses,
        ctx: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, McpError> {
        let full = a.full.unwrap_or(false);
        if let Some(stop) = self.confirm_reindex(full, answers.as_ref(), &ctx).await {
            return Ok(stop);
        }
        // A reindex writes: an index that cannot be written says why before any run starts.
        let index = match self.state.search.writable() {
            Ok(i) => i,
            Err(why) => return Ok(fail(why).into()),
        };
        let call = LongCall::new("reindex", &ctx, false);
        let params = json!({"full": full, "first_build": false, "wait_symbols": true});
        let run = match self.begin_call_run(RunKind::Index, params, &call) {
            Ok(r) => r,
            Err(refused) => return Ok(refused.into()),
        };
        self.answer_blocking(
            run,
            &call,
            move |sink, cancel| index.reindex(full, sink, cancel),
            move |run_id, outcome| render_reindex(full, run_id, outcome),
        )
        .await
    }
}

/// What `reindex` answers when its run ended.
fn render_reindex(
    full: bool,
    run_id: &str,
    outcome: Result<apex_search::IndexReport, SearchError>,
) -> CallToolResult {
    let mut report = match outcome {
        Ok(r) => r,
        Err(e) => {
            let status = if matches!(e, SearchError::Cancelled { .. }) {
                "cancelled"
            } else {
                "failed"
            };
            return fail(format!(
                "indexing run {run_id} {status}: {}",
                SearchFailure::from(e)
            ));
        }
    };
    report.run_id = run_id.to_string();
    let text = format!(
        "Index {} in {} ms (run {}): {} added, {} updated, {} removed, {} unchanged content; {} MB read at {} MB/s; {} binary and {} oversized files skipped.",
        if full { "rebuilt" } else { "updated" },
        report.duration_ms,
        report.run_id,
        report.added,
        report.updated,
        report.removed,
        report.unchanged_content,
        report.bytes_indexed >> 20,
        report.mb_per_s,
        report.skipped_binary,
        report.skipped_large
    );
    let text = if report.symbol_files > 0 {
        format!(
            "{text} Text was searchable after {} ms; symbols of {} files were parsed in {} ms more.",
            report.text_ms, report.symbol_files, report.symbols_ms
        )
    } else {
        text
    };
    ok(text, &report)
}

impl ApexServer {
    /// Before a reindex that reads the whole workspace and the workspace is larger than
    /// `[search] confirm_reindex_over`, ask the person (where the client takes elicitation).
    /// `None`: go on; `Some(answer)`: answer the call with it (the question, or "not
    /// started").
    async fn confirm_reindex(
        &self,
        full: bool,
        answers: Option<&rmcp::model::InputResponses>,
        ctx: &RequestContext<RoleServer>,
    ) -> Option<CallToolResponse> {
        const KEY: &str = "confirm_reindex";
        let asked_before = answers.is_some_and(|a| a.contains_key(KEY));
        if !asked_before && !elicit::can_ask(ctx) {
            return None;
        }
        let limit = self.state.workspace.config().search.confirm_reindex_over;
        let index = self.state.search.get().ok()?;
        let bytes = tokio::task::spawn_blocking(move || index.reindex_bytes(full))
            .await
            .ok()
            .flatten()?;
        if bytes <= limit && !asked_before {
            return None;
        }
        let message = format!(
            "Reindexing reads the whole workspace: {} MB of files (more than the {} MB of [search] confirm_reindex_over in apex.toml). Start it now?",
            bytes / 1_000_000,
            limit / 1_000_000
        );
        let schema = ElicitationSchema::builder()
            .required_bool_with("start", |b| {
                b.title("Start the reindex")
                    .description("Read every file of the workspace now")
                    .with_default(true)
            })
            .build_unchecked();
        let stopped = |why: &str| {
            Some(
                ok(
                    format!("The reindex was not started: {why}. The index is unchanged."),
                    &json!({"status": "not_started", "reason": why, "bytes": bytes}),
                )
                .into(),
            )
        };
        match elicit::ask(ctx, answers, KEY, message, schema).await {
            elicit::Asked::NotAsked => None,
            elicit::Asked::Pending(question) => Some(question.into()),
            elicit::Asked::Accepted(form) => match form.get("start").and_then(|v| v.as_bool()) {
                Some(false) => stopped("the user chose not to start it"),
                _ => None,
            },
            elicit::Asked::Declined => stopped("the user declined"),
            elicit::Asked::Cancelled => stopped("the user cancelled"),
        }
    }

    /// Run `f` with the index on a blocking thread.
    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&SearchIndex) -> Result<T, SearchError> + Send + 'static,
    ) -> Result<T, SearchFailure> {
        let index = self.state.search.get()?;
        tokio::task::spawn_blocking(move || f(&index))
            .await
            .unwrap_or_else(|e| {
                Err(SearchError::Io {
                    path: "search worker".into(),
                    source: std::io::Error::other(e.to_string()),
                })
            })
            .map_err(SearchFailure::from)
    }

    /// Build the index, with progress, when the workspace was never indexed. Symbols a large
    /// build leaves pending are extracted in the background; queries do not wait for them.
    async fn index_first(
        &self,
        meta: &RequestMetaObject,
        peer: &Peer<RoleServer>,
        ct: &CancellationToken,
    ) -> Result<(), CallToolResult> {
        let search = self.state.search.get().map_err(fail)?;
        if search.is_indexed() {
            return Ok(());
        }
        // One first build at a time: a query that arrives while it runs waits for it, then
        // finds the index built.
        let _first = self.state.first_build.lock().await;
        if search.is_indexed() {
            return Ok(());
        }
        // An `index` run: events stored and streamed as progress, cancellable by the request
        // or by `cancel_run`. Symbols follow in the background: queries never wait for them.
        let params = json!({"full": false, "first_build": true, "wait_symbols": false});
        // A first build writes, as a reindex does.
        let index = self.state.search.writable().map_err(fail)?;
        let run = self.begin_run(RunKind::Index, params, self.progress_target(peer, meta))?;
        let (run_id, result) = self
            .run_blocking(run, ct, move |sink, cancel| {
                index.ensure_indexed(sink, cancel)
            })
            .await
            .map_err(|e| fail(format!("indexing stopped on an internal error: {e}")))?;
        result.map(|_| ()).map_err(|e| {
            let status = if matches!(e, SearchError::Cancelled { .. }) {
                "cancelled"
            } else {
                "failed"
            };
            fail(format!(
                "indexing run {run_id} {status}: {}",
                SearchFailure::from(e)
            ))
        })
    }
}

/// `apex://index/status`.
pub fn read_index_status(state: &AppState, uri: &str) -> Result<ReadResourceResult, McpError> {
    match state.search.get() {
        Ok(index) => {
            let status = index.index_status().map_err(reply::internal)?;
            match state.search.problem() {
                Some(why) => reply::json(uri, &with_problem(&status, &why)),
                None => reply::json(uri, &status),
            }
        }
        Err(why) => reply::json(uri, &unavailable_status(state, &why)),
    }
}

/// `index_status` of an index that answers but cannot be written: the statistics, why, and
/// what to do.
fn with_problem(status: &IndexStatus, why: &IndexProblem) -> serde_json::Value {
    let mut v = serde_json::to_value(status).unwrap_or_else(|_| json!({}));
    if let Some(o) = v.as_object_mut() {
        o.insert("available".into(), json!(true));
        o.insert("writable".into(), json!(false));
        o.insert("reason".into(), json!(why.reason));
        o.insert("message".into(), json!(why.message));
    }
    v
}

/// `index_status` of an index that cannot be opened: why, and what to do.
fn unavailable_status(state: &AppState, why: &IndexProblem) -> serde_json::Value {
    json!({
        "indexed": false,
        "available": false,
        "reason": why.reason,
        "message": why.message,
        "root": state.workspace.root().display().to_string(),
        "index_dir": why.index_dir.display().to_string(),
    })
}

/// Why a search tool failed, as its client reads it: the index is unavailable, or the
/// request failed (a full disk named as such, with what to do).
#[derive(Debug)]
pub enum SearchFailure {
    Unavailable(IndexProblem),
    Search(SearchError),
}

impl From<IndexProblem> for SearchFailure {
    fn from(why: IndexProblem) -> Self {
        SearchFailure::Unavailable(why)
    }
}

impl From<SearchError> for SearchFailure {
    fn from(e: SearchError) -> Self {
        SearchFailure::Search(e)
    }
}

impl std::fmt::Display for SearchFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SearchFailure::Unavailable(why) => write!(f, "{why}"),
            SearchFailure::Search(e) => {
                let text = e.to_string();
                match apex_core::files::DiskFault::in_message(&text) {
                    Some(fault) => write!(
                        f,
                        "cannot write the search index: {}: {text}. To fix: {}; searches answer from the index as it was meanwhile",
                        fault.label(),
                        fault.remedy(std::path::Path::new("the index dir"))
                    ),
                    None => f.write_str(&text),
                }
            }
        }
    }
}

/// `apex://files/{path}`: a text file under the root.
pub fn read_file(state: &AppState, uri: &str, path: &str) -> Result<ReadResourceResult, McpError> {
    let path = percent_decode(path);
    let ws = &state.workspace;
    let abs = ws
        .resolve(&path)
        .map_err(|e| McpError::invalid_params(e.to_string(), None))?;
    if abs.starts_with(ws.data_dir()) || abs.is_dir() {
        return Err(McpError::invalid_params(
            format!("`{path}` is not a file of the workspace"),
            None,
        ));
    }
    let limit = ws.config().search.max_file_size;
    let bytes = std::fs::read(&abs).map_err(reply::internal)?;
    if bytes.len() as u64 > limit {
        return Err(McpError::invalid_params(
            format!(
                "`{path}` is {} bytes, over the {limit}-byte limit; read parts with the read_code tool",
                bytes.len()
            ),
            None,
        ));
    }
    if bytes[..bytes.len().min(8192)].contains(&0) {
        return Err(McpError::invalid_params(
            format!("`{path}` is a binary file; only text files are served"),
            None,
        ));
    }
    let text = String::from_utf8_lossy(&bytes).into_owned();
    Ok(reply::text(uri, text, mime_for(&path)))
}

fn mime_for(path: &str) -> &'static str {
    match path.rsplit('.').next().unwrap_or_default() {
        "md" => "text/markdown",
        "json" => "application/json",
        "html" | "htm" => "text/html",
        "rs" => "text/x-rust",
        "py" => "text/x-python",
        "js" | "mjs" | "cjs" | "jsx" => "text/javascript",
        "ts" | "tsx" => "text/x-typescript",
        "go" => "text/x-go",
        "java" => "text/x-java",
        "c" | "h" => "text/x-c",
        "cc" | "cpp" | "hpp" | "cxx" => "text/x-c++",
        _ => "text/plain",
    }
}

/// Decode `%XX` escapes of a URI path; malformed escapes are kept as they are.
fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2]))
        {
            out.push((h * 16 + l) as u8);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn more_line(remaining: usize, cursor: &Option<String>) -> String {
    match cursor {
        Some(c) if remaining > 0 => format!("\n{remaining} more; pass cursor \"{c}\" to continue."),
        _ => String::new(),
    }
}

fn render_search(r: &SearchResults) -> String {
    let mut out = format!(
        "{} of {} hits for `{}` ({}), ~{} tokens.",
        r.hits.len(),
        r.total,
        r.query,
        r.mode,
        r.tokens
    );
    if let Some(n) = &r.note {
        out.push_str(&format!(" {n}."));
    }
    for h in &r.hits {
        let what = match (&h.kind, &h.symbol) {
            (Some(k), Some(s)) => format!(" {k} {s}"),
            (None, Some(s)) => format!(" in {s}"),
            _ => String::new(),
        };
        let span = if h.end_line > h.line {
            format!("{}-{}", h.line, h.end_line)
        } else {
            h.line.to_string()
        };
        out.push_str(&format!(
            "\n\n{}:{span}{what} (score {})\n{}",
            h.path, h.score, h.snippet
        ));
        if !h.other_lines.is_empty() {
            let lines: Vec<String> = h.other_lines.iter().map(u32::to_string).collect();
            out.push_str(&format!("\n  also lines {}", lines.join(", ")));
        }
    }
    out.push_str(&more_line(r.remaining, &r.next_cursor));
    out
}

fn render_symbols(r: &SymbolResults) -> String {
    let mut out = format!(
        "{} of {} definitions for `{}`.",
        r.definitions.len(),
        r.total,
        r.query
    );
    if let Some(n) = &r.note {
        out.push_str(&format!(" {n}."));
    }
    if !r.pending_files.is_empty() {
        out.push_str(&format!(" Not parsed yet: {}.", r.pending_files.join(", ")));
    }
    for d in &r.definitions {
        let container = d
            .container
            .as_deref()
            .map(|c| format!(" in {c}"))
            .unwrap_or_default();
        out.push_str(&format!(
            "\n{}:{}-{} {} {}{container} [{}]\n  {}",
            d.path, d.line, d.end_line, d.kind, d.name, d.match_kind, d.signature
        ));
        if let Some(b) = &d.body {
            out.push('\n');
            out.push_str(b.trim_end());
        }
    }
    out.push_str(&more_line(r.remaining, &r.next_cursor));
    out
}

fn render_references(r: &References) -> String {
    let mut out = format!(
        "{} of {} occurrences of `{}` in {} files.",
        r.references.len(),
        r.total,
        r.name,
        r.files
    );
    for x in &r.references {
        let mark = if x.definition { " (definition)" } else { "" };
        out.push_str(&format!(
            "\n{}:{}:{}{mark}: {}",
            x.path, x.line, x.column, x.snippet
        ));
    }
    out.push_str(&more_line(r.remaining, &r.next_cursor));
    out
}

fn render_excerpt(x: &CodeExcerpt) -> String {
    let what = x
        .symbol
        .as_ref()
        .map(|s| format!(" ({} {})", s.kind, s.name))
        .unwrap_or_default();
    let mut out = format!(
        "{} lines {}-{} of {}{what}\n{}",
        x.path, x.start_line, x.end_line, x.total_lines, x.text
    );
    if let Some(n) = x.next_start_line {
        out.push_str(&format!(
            "(cut at the token budget; continue with start_line {n})"
        ));
    }
    out
}

fn render_outline(o: &Outline) -> String {
    fn walk(nodes: &[OutlineNode], depth: usize, out: &mut String) {
        for n in nodes {
            out.push_str(&format!(
                "\n{}{} {} ({}-{})",
                "  ".repeat(depth),
                n.kind,
                n.name,
                n.line,
                n.end_line
            ));
            walk(&n.children, depth + 1, out);
        }
    }
    let mut out = format!("{} ({}), {} symbols", o.path, o.language, o.total);
    walk(&o.symbols, 0, &mut out);
    if o.omitted > 0 {
        out.push_str(&format!(
            "\n… {} more symbols past the token budget",
            o.omitted
        ));
    }
    out
}

fn render_status(s: &IndexStatus) -> String {
    let langs: Vec<String> = s
        .languages
        .iter()
        .map(|(l, n)| format!("{l} {n}"))
        .collect();
    let mut out = format!(
        "{}: {} files, {} symbols, {} MB of text; languages: {}. Skipped: {} binary, {} over {} bytes. Last update: {}. Index size {} MB; {}.",
        if s.indexed {
            "Indexed"
        } else {
            "Not indexed yet (the first query builds it)"
        },
        s.files,
        s.symbols,
        s.bytes >> 20,
        if langs.is_empty() {
            "none".to_string()
        } else {
            langs.join(", ")
        },
        s.skipped_binary,
        s.skipped_large,
        s.max_file_size,
        s.last_update.as_deref().unwrap_or("never"),
        s.index_size_bytes >> 20,
        if s.watching {
            "watching for changes"
        } else {
            "not watching"
        },
    );
    if s.symbols_pending > 0 {
        out.push_str(&format!(
            " Symbols of {} files are still being extracted (text search already covers them; find_symbol searches them by text meanwhile): {}{}.",
            s.symbols_pending,
            s.pending_files.join(", "),
            if s.symbols_pending as usize > s.pending_files.len() {
                ", …"
            } else {
                ""
            }
        ));
    }
    if let Some(why) = &s.rebuilt_after_damage {
        out.push_str(&format!(
            " The index on disk was damaged and is being rebuilt: {why}."
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_escapes_decode() {
        assert_eq!(percent_decode("src/a%20b.rs"), "src/a b.rs");
        assert_eq!(percent_decode("%2E%2E/etc"), "../etc");
        assert_eq!(percent_decode("100%"), "100%");
    }
}
