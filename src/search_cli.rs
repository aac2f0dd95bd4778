//! CLI twins of the search tools: `netra-apex index` (reindex) and `netra-apex search`
//! (search_code). They call the same library functions as the MCP tools and print either
//! readable text or, with `--json`, the tools' structured result.

use std::path::Path;

use anyhow::Context;
use netra_apex::events::EventSink;
use netra_apex::search::{SearchIndex, SearchRequest};
use netra_apex::workspace::Workspace;
use serde_json::Value;
use tokio_util::sync::CancellationToken;

/// Progress lines on stderr: `index_started: ...`, `files_indexed: 2000/9000 files`.
struct StderrSink;

impl EventSink for StderrSink {
    fn emit(&self, event: &str, data: Value) {
        let msg = data.get("message").and_then(Value::as_str).unwrap_or("");
        eprintln!("{event}: {msg}");
    }
}

fn open(root: &Path, data_dir: Option<&Path>) -> anyhow::Result<SearchIndex> {
    let ws = Workspace::open(root, data_dir)?;
    SearchIndex::open(&ws).context("cannot open the search index")
}

/// `netra-apex index [--full] [--json]`.
pub fn index(root: &Path, data_dir: Option<&Path>, full: bool, json: bool) -> anyhow::Result<()> {
    let index = open(root, data_dir)?;
    let cancel = CancellationToken::new();
    let report = index.reindex(full, &StderrSink, &cancel)?;
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        let s = index.index_status()?;
        println!(
            "{} files ({} symbols, {} MB) indexed; this run: {} added, {} updated, {} removed in {} ms ({} MB/s; text searchable after {} ms, {} MB/s{}). Index: {} MB in {}.",
            s.files,
            s.symbols,
            s.bytes >> 20,
            report.added,
            report.updated,
            report.removed,
            report.duration_ms,
            report.mb_per_s,
            report.text_ms,
            report.text_mb_per_s,
            if report.symbol_files > 0 {
                format!(
                    "; symbols of {} files parsed in {} ms after",
                    report.symbol_files, report.symbols_ms
                )
            } else {
                String::new()
            },
            s.index_size_bytes >> 20,
            s.index_dir
        );
    }
    Ok(())
}

/// `netra-apex search QUERY [--mode M] [--path GLOB] [--language L] [--limit N]
/// [--max-tokens N] [--cursor C] [--json]`.
pub fn search(
    root: &Path,
    data_dir: Option<&Path>,
    req: SearchRequest,
    json: bool,
) -> anyhow::Result<()> {
    let index = open(root, data_dir)?;
    if !index.is_indexed() {
        index.ensure_indexed(&StderrSink, &CancellationToken::new())?;
    }
    let r = index.search_code(&req)?;
    if json {
        println!("{}", serde_json::to_string_pretty(&r)?);
        return Ok(());
    }
    for h in &r.hits {
        let what = match (&h.kind, &h.symbol) {
            (Some(k), Some(s)) => format!("  [{k} {s}]"),
            (None, Some(s)) => format!("  [in {s}]"),
            _ => String::new(),
        };
        println!("{}:{}{what}", h.path, h.line);
        for l in h.snippet.lines() {
            println!("  {l}");
        }
    }
    eprintln!("{} of {} hits ({} mode)", r.hits.len(), r.total, r.mode);
    if let Some(c) = r.next_cursor {
        eprintln!("{} more: --cursor {c}", r.remaining);
    }
    Ok(())
}
