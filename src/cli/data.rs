//! `netra-apex ingest`: the CLI twin of `ingest_logs`, recorded as an ingest run.

use apex_agents::ingest;
use apex_agents::requests::IngestLogsArgs;
use apex_core::run::RunKind;
use serde_json::json;

use super::{Place, runs};

/// `netra-apex ingest`: the arguments of `ingest_logs` and the prices to price with.
#[derive(clap::Args)]
pub struct IngestArgs {
    #[command(flatten)]
    args: IngestLogsArgs,
    #[command(flatten)]
    prices: super::PricesArg,
}

pub fn ingest(
    at: &Place<'_>,
    runtime: &tokio::runtime::Runtime,
    IngestArgs { args, prices }: IngestArgs,
) -> anyhow::Result<()> {
    let catalog = prices.load()?;
    let opened = runs::open(at.root, at.data_dir)?;
    let format = args.log_format()?;
    let path = opened.ws.resolve(&args.path)?;
    apex_store::datasets::validate_name(&args.dataset)?;
    let params = json!({"path": args.path, "format": format.name(), "dataset": args.dataset});
    let store = opened.store.clone();
    let (run_id, outcome) = opened.run(
        runtime,
        RunKind::Ingest,
        params,
        Some(runs::print_events()),
        move |sink, cancel| {
            ingest::ingest(&store, &catalog, &path, format, &args.dataset, sink, cancel)
        },
    )?;
    let report = outcome?;
    for r in &report.rejections {
        let span = r.span.map(|s| format!(" span {s}")).unwrap_or_default();
        eprintln!("line {}{span}: {}", r.line, r.reason);
    }
    if report.rejections_not_listed > 0 {
        eprintln!(
            "... and {} more rejected lines",
            report.rejections_not_listed
        );
    }
    println!(
        "dataset {}: {} accepted, {} rejected, spend ${:.2}, {} ms (run {run_id})",
        report.dataset, report.accepted, report.rejected, report.spend_usd, report.elapsed_ms
    );
    Ok(())
}
