//! CLI twins of the search tools: `netra-apex index` (reindex) and `netra-apex search`
//! (search_code). They call the same library functions as the MCP tools and print either
//! readable text or, with `--json`, the tools' structured result.

use anyhow::Context;
use apex_core::run::RunKind;
use apex_search::{SearchIndex, SearchRequest};
use serde_json::json;

use super::{Place, runs};

#[derive(clap::Args)]
pub struct IndexArgs {
    #[command(flatten)]
    request: apex_search::ReindexArgs,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
}

#[derive(clap::Args)]
pub struct SearchArgs {
    #[command(flatten)]
    request: SearchRequest,
    /// Print the structured result as JSON.
    #[arg(long)]
    json: bool,
}

/// Open the index and, unless it is complete, build it as a recorded `index` run.
fn open_indexed(
    at: &Place<'_>,
    runtime: &tokio::runtime::Runtime,
    full: Option<bool>,
) -> anyhow::Result<(SearchIndex, Option<apex_search::IndexReport>)> {
    let opened = runs::open(at.root, at.data_dir)?;
    let index = SearchIndex::open(&opened.ws).context("cannot open the search index")?;
    let params = json!({"full": full == Some(true), "first_build": full.is_none(), "wait_symbols": full.is_some()});
    if full.is_none() && index.is_indexed() {
        return Ok((index, None));
    }
    let worker = index.clone();
    let (_run_id, outcome) = opened.run(
        runtime,
        RunKind::Index,
        params,
        Some(runs::print_events()),
        move |sink, cancel| match full {
            Some(full) => worker.reindex(full, sink, cancel).map(Some),
            None => worker.ensure_indexed(sink, cancel),
        },
    )?;
    let report = outcome?;
    Ok((index, report))
}

/// `netra-apex index [--full] [--json]`.
pub fn index(
    at: &Place<'_>,
    runtime: &tokio::runtime::Runtime,
    args: IndexArgs,
) -> anyhow::Result<()> {
    let (index, report) = open_indexed(at, runtime, Some(args.request.full.unwrap_or(false)))?;
    let report = report.context("the index run returned no report")?;
    if args.json {
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
    at: &Place<'_>,
    runtime: &tokio::runtime::Runtime,
    args: SearchArgs,
) -> anyhow::Result<()> {
    let req = args.request;
    let (index, _) = open_indexed(at, runtime, None)?;
    let r = index.search_code(&req)?;
    if args.json {
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
