//! `netra-apex ingest`: the CLI twin of `ingest_logs`, recorded as an ingest run.

use apex_agents::ingest::{self, LogFormat};
use apex_core::pricing::PriceCatalog;
use apex_core::run::RunKind;
use serde_json::json;

use super::{Place, runs};

#[derive(clap::Args)]
pub struct IngestArgs {
    /// The log file, inside the workspace.
    path: String,
    /// Name of the dataset to create or replace.
    #[arg(long)]
    dataset: String,
    /// auto, jsonl, csv or otlp-json.
    #[arg(long, default_value = "auto")]
    format: String,
}

pub fn ingest(
    at: &Place<'_>,
    runtime: &tokio::runtime::Runtime,
    args: IngestArgs,
) -> anyhow::Result<()> {
    let opened = runs::open(at.root, at.data_dir)?;
    let format = LogFormat::parse(&args.format)?;
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
            ingest::ingest(
                &store,
                PriceCatalog::builtin(),
                &path,
                format,
                &args.dataset,
                sink,
                cancel,
            )
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

/// `netra-apex datasets ...`: the workload datasets of the data dir.
#[derive(clap::Subcommand)]
pub enum DatasetsCommand {
    /// List the datasets with their records, spend and storage.
    List,
    /// Convert datasets of the old SQLite layout to Parquet (also done on first use), with
    /// progress; each is checked for every row and cent before its old rows are dropped.
    Migrate,
    /// Remove a dataset and its files.
    Delete {
        /// The dataset to remove.
        name: String,
    },
}

pub fn datasets(at: &Place<'_>, command: DatasetsCommand) -> anyhow::Result<()> {
    let opened = runs::open(at.root, at.data_dir)?;
    let store = &opened.store;
    match command {
        DatasetsCommand::List => {
            for d in apex_store::datasets::list(store)? {
                println!(
                    "{}\t{}\t{} records\t${:.2}\t{} bytes\t{}",
                    d.name, d.source, d.record_count, d.spend_usd, d.bytes, d.storage
                );
            }
        }
        DatasetsCommand::Migrate => {
            let pending = apex_datasets::migrate::pending(store)?;
            if pending.is_empty() {
                println!("every dataset is already Parquet");
            }
            let mut last = std::time::Instant::now();
            let done = apex_datasets::migrate::migrate_all(store, &mut |name, at, of| {
                if at == of || last.elapsed().as_millis() >= 500 {
                    eprintln!("{name}: {at} of {of} records");
                    last = std::time::Instant::now();
                }
            })?;
            for c in done {
                println!(
                    "{}: {} records (${:.2}) in {} part(s), {} bytes, {} ms; the old rows were dropped",
                    c.name, c.records, c.spend_usd, c.parts, c.bytes, c.elapsed_ms
                );
            }
        }
        DatasetsCommand::Delete { name } => {
            if apex_datasets::write::delete(store, &name)? {
                println!("dataset {name} removed");
            } else {
                anyhow::bail!("dataset `{name}` does not exist");
            }
        }
    }
    Ok(())
}
