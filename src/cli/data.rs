//! `netra-apex ingest`: the CLI twin of `ingest_logs`, recorded as an ingest run.

use apex_agents::ingest::{self, IngestRequest};
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
            ingest::ingest(&store, &catalog, &req, sink, cancel)
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
    // Usage buckets stand for many calls each; said only where there are some.
    let buckets = if p.aggregated > 0 {
        format!(
            ", {} aggregated buckets for {} calls",
            p.aggregated, p.calls
        )
    } else {
        String::new()
    };
    println!(
        "dataset {}: {} accepted ({} flagged{buckets}), {} rejected, {} model calls, spend ${:.2}, {} ms (run {run_id})",
        report.dataset,
        p.accepted,
        p.flagged,
        p.rejected,
        report.model_calls,
        p.spend_usd,
        report.elapsed_ms
    );
    if let Some(e) = &report.counting_error {
        eprintln!("note: {e}");
    }
    if report.rollup_records > 0 {
        println!(
            "{} spans are rollups: a child span carries their usage (${:.2}), counted once, in the children (${:.2} recorded in all)",
            report.rollup_records, report.rollup_spend_usd, report.recorded_spend_usd
        );
    }
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
    /// Analyse Parquet files where they already are (a pipeline's output directory, one
    /// file, or a file:// or object-store URL) as dataset NAME: read in place at every
    /// query, never written; files need the workload schema's per-call columns.
    Attach {
        /// The dataset name the files are analysed under.
        name: String,
        /// A directory (every *.parquet below it, skipping names starting with `_` or `.`),
        /// a .parquet file, or a URL.
        location: String,
    },
    /// Remove a dataset and its files (an attached dataset is only detached: its files stay).
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
                    "{}\t{}\t{} records\t${:.2}\t{} bytes\t{}{}",
                    d.name,
                    d.source,
                    d.record_count,
                    d.spend_usd,
                    d.bytes,
                    d.storage,
                    d.location().map(|l| format!(" {l}")).unwrap_or_default()
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
        DatasetsCommand::Attach { name, location } => {
            let a = apex_datasets::external::attach(store, &name, &location)?;
            for skipped in &a.skipped {
                eprintln!("skipped: {skipped}");
            }
            println!(
                "dataset {name} attached from {}: {} records (${:.2}) in {} file(s){}, {} to {}; read in place at every query",
                a.info.location().unwrap_or(&location),
                a.info.record_count,
                a.info.spend_usd,
                a.files,
                if a.skipped.is_empty() {
                    String::new()
                } else {
                    format!(", {} skipped", a.skipped.len())
                },
                a.info.first.as_deref().unwrap_or("?"),
                a.info.last.as_deref().unwrap_or("?"),
            );
        }
        DatasetsCommand::Delete { name } => match apex_datasets::write::delete(store, &name)? {
            Some(d) => match d.location() {
                Some(at) => println!("dataset {name} detached; its files at {at} are kept"),
                None => println!("dataset {name} removed"),
            },
            None => anyhow::bail!("dataset `{name}` does not exist"),
        },
    }
    Ok(())
}
