//! `netra-apex ingest`: the CLI twin of `ingest_logs`, recorded as an ingest run.

use apex_agents::ingest::{self, IngestRequest};
use apex_agents::requests::IngestLogsArgs;
use apex_core::pricing::PriceCatalog;
use apex_core::run::RunKind;
use serde_json::json;

use super::{Place, runs};

pub fn ingest(
    at: &Place<'_>,
    runtime: &tokio::runtime::Runtime,
    args: IngestLogsArgs,
) -> anyhow::Result<()> {
    let opened = runs::open(at.root, at.data_dir)?;
    let format = args.log_format()?;
    let columns = args.column_map()?;
    let path = opened.ws.resolve(&args.path)?;
    apex_store::datasets::validate_name(&args.dataset)?;
    let params = json!({"path": args.path, "format": format.name(), "dataset": args.dataset, "columns": columns});
    let store = opened.store.clone();
    let (run_id, outcome) = opened.run(
        runtime,
        RunKind::Ingest,
        params,
        Some(runs::print_events()),
        move |sink, cancel| {
            let req = IngestRequest {
                path: &path,
                format,
                dataset: &args.dataset,
                columns,
            };
            ingest::ingest(&store, PriceCatalog::builtin(), &req, sink, cancel)
        },
    )?;
    let report = outcome?;
    let p = &report.parsed;
    for r in &p.rejections {
        let item = r.span.map(|s| format!(" item {s}")).unwrap_or_default();
        eprintln!("line {}{item}: {}", r.line, r.reason);
    }
    if p.rejections_not_listed > 0 {
        eprintln!("... and {} more rejected lines", p.rejections_not_listed);
    }
    for (flag, f) in &p.quality {
        let places: Vec<String> = f.examples.iter().map(|e| e.line.to_string()).collect();
        eprintln!(
            "flagged {flag}: {} records (lines {}{})",
            f.count,
            places.join(", "),
            if f.count as usize > places.len() {
                ", ..."
            } else {
                ""
            }
        );
    }
    println!(
        "dataset {}: {} accepted ({} flagged, {} aggregated buckets for {} calls), {} rejected, spend ${:.2}, {} ms (run {run_id})",
        report.dataset,
        p.accepted,
        p.flagged,
        p.aggregated,
        p.calls,
        p.rejected,
        p.spend_usd,
        report.elapsed_ms
    );
    Ok(())
}
