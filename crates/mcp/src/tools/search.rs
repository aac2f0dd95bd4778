//! The codebase search tools: `search_code`, `find_symbol`, `find_references`, `read_code`,
//! `outline`, `index_status`, `reindex`, plus the `apex://index/status` and
//! `apex://files/{path}` resource reads.
//!
//! Handlers parse, call one [`apex_search::SearchIndex`] method on a blocking thread and
//! render text plus the same data as `structuredContent`. A query on a workspace that was
//! never indexed first builds the index as an `index` run whose events stream as progress.

use rmcp::model::{CallToolResult, ReadResourceResult, RequestMetaObject};
use rmcp::{ErrorData as McpError, Peer, RoleServer, tool, tool_router};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::json;
use tokio_util::sync::CancellationToken;

use super::{Parameters, fail, ok};
use crate::resources;
use crate::served_index::IndexProblem;
use crate::server::ApexServer;
use crate::state::AppState;
use apex_core::run::RunKind;
use apex_search::{
    CodeExcerpt, FindSymbolRequest, IndexStatus, Outline, OutlineNode, ReadRequest,
    ReferenceRequest, References, SearchError, SearchIndex, SearchRequest, SearchResults,
    SymbolResults,
};

/// Arguments of `search_code`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SearchCodeArgs {
    /// Text, identifier(s) or regex to look for.
    pub query: String,
    /// auto (ranked text + definitions, default), text, regex or symbol.
    pub mode: Option<String>,
    /// Glob over paths relative to the root, e.g. `src/**/*.rs`, `*.py`, or a directory.
    pub path: Option<String>,
    /// Only files of this language (rust, python, javascript, typescript, tsx, go, java, c, cpp, markdown...).
    pub language: Option<String>,
    /// Most hits to return (1-500, default 20).
    pub limit: Option<usize>,
    /// Token budget for the hits (1-20000, default 4000); results stop at a whole hit.
    pub max_tokens: Option<usize>,
    /// next_cursor of the previous page, to continue.
    pub cursor: Option<String>,
}

/// Arguments of `find_symbol`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FindSymbolArgs {
    /// Symbol name, qualified (`Store::open`, `Client.get`) or approximate (fuzzy matching).
    pub name: String,
    /// function, method, class, struct, enum, trait, interface, module, constant, type, macro or impl.
    pub kind: Option<String>,
    /// Only definitions in this language.
    pub language: Option<String>,
    /// Glob over paths relative to the root.
    pub path: Option<String>,
    /// Include the numbered source lines of each definition (within max_tokens).
    pub include_body: Option<bool>,
    /// Most definitions to return (1-500, default 20).
    pub limit: Option<usize>,
    /// Token budget (1-20000, default 4000).
    pub max_tokens: Option<usize>,
    /// next_cursor of the previous page, to continue.
    pub cursor: Option<String>,
}

/// Arguments of `find_references`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FindReferencesArgs {
    /// The identifier whose occurrences to list (for `a::b` the last part).
    pub name: String,
    /// Glob over paths relative to the root.
    pub path: Option<String>,
    /// Only files of this language.
    pub language: Option<String>,
    /// Most occurrences to return (1-500, default 20).
    pub limit: Option<usize>,
    /// Token budget (1-20000, default 4000).
    pub max_tokens: Option<usize>,
    /// next_cursor of the previous page, to continue.
    pub cursor: Option<String>,
}

/// Arguments of `read_code`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReadCodeArgs {
    /// File path relative to the workspace root.
    pub path: String,
    /// First line to read (1-based, default 1).
    pub start_line: Option<u32>,
    /// Last line to read (inclusive, default: end of file).
    pub end_line: Option<u32>,
    /// Read this symbol of the file instead of a line range (e.g. `parse` or `Config::load`).
    pub symbol: Option<String>,
    /// Token budget (1-20000, default 4000); lines stop at a whole line.
    pub max_tokens: Option<usize>,
}

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

/// Arguments of `reindex`.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReindexArgs {
    /// Re-read every file (default false: only files whose mtime/size and content changed).
    pub full: Option<bool>,
}

#[tool_router(router = search_router, vis = "pub(crate)")]
impl ApexServer {
    /// Search the workspace's code.
    #[tool(
        description = "Search code in the workspace: ranked text and definitions (mode auto), text, regex or symbol. Hits: path, line, symbol, snippet with context, score; paged by cursor within max_tokens."
    )]
    async fn search_code(
        &self,
        Parameters(a): Parameters<SearchCodeArgs>,
        meta: RequestMetaObject,
        peer: Peer<RoleServer>,
        ct: CancellationToken,
    ) -> Result<CallToolResult, McpError> {
        let mode = match a.mode.as_deref().unwrap_or("auto").parse() {
            Ok(m) => m,
            Err(e) => return Ok(fail(e)),
        };
        if a.query.trim().is_empty() {
            return Ok(fail(SearchError::EmptyQuery { field: "query" }));
        }
        if let Err(r) = self
            .index_first(mode == apex_search::SearchMode::Symbol, &meta, &peer, &ct)
            .await
        {
            return Ok(r);
        }
        let req = SearchRequest {
            query: a.query,
            mode,
            path: a.path,
            language: a.language,
            limit: a.limit,
            max_tokens: a.max_tokens,
            cursor: a.cursor,
        };
        Ok(match self.blocking(move |s| s.search_code(&req)).await {
            Ok(r) => ok(render_search(&r), &r),
            Err(e) => fail(e),
        })
    }

    /// Find definitions by name.
    #[tool(
        description = "Find definitions by name (exact, qualified like Store::open, or fuzzy), optionally by kind and language: name, kind, path, line, end_line, signature, container; include_body adds the code."
    )]
    async fn find_symbol(
        &self,
        Parameters(a): Parameters<FindSymbolArgs>,
        meta: RequestMetaObject,
        peer: Peer<RoleServer>,
        ct: CancellationToken,
    ) -> Result<CallToolResult, McpError> {
        if a.name.trim().is_empty() {
            return Ok(fail(SearchError::EmptyQuery { field: "name" }));
        }
        if let Err(r) = self.index_first(true, &meta, &peer, &ct).await {
            return Ok(r);
        }
        let req = FindSymbolRequest {
            name: a.name,
            kind: a.kind,
            language: a.language,
            path: a.path,
            include_body: a.include_body.unwrap_or(false),
            limit: a.limit,
            max_tokens: a.max_tokens,
            cursor: a.cursor,
        };
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
        Parameters(a): Parameters<FindReferencesArgs>,
        meta: RequestMetaObject,
        peer: Peer<RoleServer>,
        ct: CancellationToken,
    ) -> Result<CallToolResult, McpError> {
        if a.name.trim().is_empty() {
            return Ok(fail(SearchError::EmptyQuery { field: "name" }));
        }
        if let Err(r) = self.index_first(true, &meta, &peer, &ct).await {
            return Ok(r);
        }
        let req = ReferenceRequest {
            name: a.name,
            path: a.path,
            language: a.language,
            limit: a.limit,
            max_tokens: a.max_tokens,
            cursor: a.cursor,
        };
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
        Parameters(a): Parameters<ReadCodeArgs>,
    ) -> Result<CallToolResult, McpError> {
        let req = ReadRequest {
            path: a.path,
            start_line: a.start_line,
            end_line: a.end_line,
            symbol: a.symbol,
            max_tokens: a.max_tokens,
        };
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
        description = "Update the index (incremental: changed files only) or rebuild it (full: true), with progress per batch of files. Cancellable with cancel_run."
    )]
    async fn reindex(
        &self,
        Parameters(a): Parameters<ReindexArgs>,
        meta: RequestMetaObject,
        peer: Peer<RoleServer>,
        ct: CancellationToken,
    ) -> Result<CallToolResult, McpError> {
        let full = a.full.unwrap_or(false);
        Ok(
            match self
                .index_run(IndexWork::Reindex { full }, &meta, &peer, &ct)
                .await
            {
                Ok(Some(report)) => {
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
                Ok(None) => ok("The index is up to date.", &json!({"status": "up_to_date"})),
                Err(r) => r,
            },
        )
    }
}

impl ApexServer {
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

    /// Build the index, with progress, when the workspace was never indexed; with `symbols`,
    /// also finish extracting symbols that a large build left pending.
    async fn index_first(
        &self,
        symbols: bool,
        meta: &RequestMetaObject,
        peer: &Peer<RoleServer>,
        ct: &CancellationToken,
    ) -> Result<(), CallToolResult> {
        let search = self.state.search.get().map_err(fail)?;
        if search.is_indexed() && (!symbols || search.symbols_pending() == 0) {
            return Ok(());
        }
        let work = if symbols {
            IndexWork::FirstBuildWithSymbols
        } else {
            IndexWork::FirstBuild
        };
        self.index_run(work, meta, peer, ct).await.map(|_| ())
    }

    /// An `index` run: events stored and streamed as progress, cancellable by the request or
    /// by `cancel_run`.
    async fn index_run(
        &self,
        work: IndexWork,
        meta: &RequestMetaObject,
        peer: &Peer<RoleServer>,
        ct: &CancellationToken,
    ) -> Result<Option<apex_search::IndexReport>, CallToolResult> {
        let params = json!({"full": work == IndexWork::Reindex { full: true },
                "first_build": !matches!(work, IndexWork::Reindex { .. }),
                "wait_symbols": work != IndexWork::FirstBuild});
        // A first build writes, as a reindex does.
        let index = self.state.search.writable().map_err(fail)?;
        let run = self.begin_run(RunKind::Index, params, self.progress_target(peer, meta))?;
        let (run_id, result) = self
            .run_blocking(run, ct, move |sink, cancel| match work {
                IndexWork::FirstBuild => index.ensure_indexed(sink, cancel),
                IndexWork::FirstBuildWithSymbols => index.ensure_symbols(sink, cancel),
                IndexWork::Reindex { full } => index.reindex(full, sink, cancel).map(Some),
            })
            .await
            .map_err(|e| fail(format!("indexing stopped on an internal error: {e}")))?;
        match result {
            Ok(report) => Ok(report.map(|mut r| {
                r.run_id = run_id.clone();
                r
            })),
            Err(e) => {
                let status = if matches!(e, SearchError::Cancelled { .. }) {
                    "cancelled"
                } else {
                    "failed"
                };
                Err(fail(format!(
                    "indexing run {run_id} {status}: {}",
                    SearchFailure::from(e)
                )))
            }
        }
    }
}

/// `apex://index/status`.
/// What an index run does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum IndexWork {
    /// Build when no complete index exists; symbols follow in the background.
    FirstBuild,
    /// The same, then wait for every pending symbol (queries over definitions).
    FirstBuildWithSymbols,
    /// The `reindex` tool: incremental or full, symbols included.
    Reindex { full: bool },
}

pub fn read_index_status(state: &AppState, uri: &str) -> Result<ReadResourceResult, McpError> {
    match state.search.get() {
        Ok(index) => {
            let status = index.index_status().map_err(resources::internal)?;
            match state.search.problem() {
                Some(why) => resources::json(uri, &with_problem(&status, &why)),
                None => resources::json(uri, &status),
            }
        }
        Err(why) => resources::json(uri, &unavailable_status(state, &why)),
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
    let bytes = std::fs::read(&abs).map_err(resources::internal)?;
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
    Ok(resources::text(uri, text, mime_for(&path)))
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
            " Symbols of {} files are still being extracted (text search already covers them; find_symbol and find_references wait for them).",
            s.symbols_pending
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
