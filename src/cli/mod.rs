//! The command line: `serve` (MCP over stdio or HTTP), `demo`, and the CLI twin of each
//! capability, one file per capability. A twin opens the workspace, calls the same library
//! function as its MCP tool (long work through the same run driver, so CLI runs are recorded
//! like server runs) and prints the result.

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::{Parser, Subcommand};

pub mod agents;
pub mod context;
pub mod data;
pub mod demo;
pub mod runs;
pub mod search;
pub mod serve;
pub mod synth;
pub mod test;

#[derive(Parser)]
#[command(
    name = "netra-apex",
    version,
    about = "A local MCP server for AI assistants: code search, shared context, synthetic LLM workload data, tests and cost-optimization agents"
)]
pub struct Cli {
    /// Workspace root (default: the current directory).
    #[arg(long, global = true, value_name = "DIR")]
    root: Option<PathBuf>,
    /// Data dir for the database, index and logs (default: <root>/.netra-apex).
    #[arg(long, global = true, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve MCP on stdio (for Claude Desktop), or on streamable HTTP with --http.
    Serve(serve::ServeArgs),
    /// A scripted MCP session against this server: the first thing to run.
    Demo,
    /// Build or update the codebase index (the twin of the `reindex` tool).
    Index(search::IndexArgs),
    /// Search the workspace's code (the twin of the `search_code` tool).
    Search(search::SearchArgs),
    /// Generate synthetic LLM workload logs (the CLI twin of generate_synthetic_data).
    Synth(synth::SynthArgs),
    /// Context bundles: export one to a JSON file for git, or import such a file.
    Context {
        #[command(subcommand)]
        action: context::ContextCommand,
    },
    /// Load LLM logs (OTLP, LiteLLM, Langfuse, OpenAI/Anthropic usage, JSONL, CSV) into a dataset (CLI twin of ingest_logs).
    Ingest(data::IngestArgs),
    /// Workload datasets: list, attach Parquet where it lies, convert the old SQLite layout to
    /// Parquet, delete.
    Datasets {
        #[command(subcommand)]
        command: data::DatasetsCommand,
    },
    /// Analysis agents (CLI twin of list_agents / run_agent).
    Agent {
        #[command(subcommand)]
        command: agents::AgentCommand,
    },
    /// Run the workspace's tests with structured results (the CLI twin of run_tests).
    Test(test::TestArgs),
}

/// `--prices FILE` (or `APEX_PRICES`): the user's prices laid over the shipped catalog, for
/// the commands that price calls (`serve`, `ingest`, `agent run`).
#[derive(clap::Args, Clone, Default)]
pub struct PricesArg {
    /// A TOML file of model prices that override or add to the shipped catalog: [[model]]
    /// entries with `model` and the fields to set, as apex://pricing shows them.
    #[arg(long = "prices", env = "APEX_PRICES", value_name = "FILE")]
    pub prices: Option<PathBuf>,
}

impl PricesArg {
    /// The catalog to price with; a bad file is an error naming its line and field.
    pub fn load(&self) -> anyhow::Result<apex_core::pricing::PriceCatalog> {
        let path = self.prices.as_deref().filter(|p| !p.as_os_str().is_empty());
        Ok(apex_core::pricing::PriceCatalog::load(path)?)
    }
}

/// Where a command works: the workspace root and the data dir.
pub struct Place<'a> {
    pub root: &'a Path,
    pub data_dir: Option<&'a Path>,
}

/// Run one command to its end.
pub fn run(cli: Cli) -> anyhow::Result<()> {
    let root = match &cli.root {
        Some(r) => r.clone(),
        None => std::env::current_dir().context("cannot read the current directory")?,
    };
    let at = Place {
        root: &root,
        data_dir: cli.data_dir.as_deref(),
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    match cli.command {
        Command::Serve(args) => serve::run(&at, &runtime, args),
        Command::Demo => {
            let _guard = init_logging(None);
            runtime.block_on(demo::run(at.root, at.data_dir))
        }
        Command::Index(args) => {
            let _guard = init_logging(None);
            search::index(&at, &runtime, args)
        }
        Command::Search(args) => {
            let _guard = init_logging(None);
            search::search(&at, &runtime, args)
        }
        Command::Synth(args) => synth::run(&at, &runtime, args),
        Command::Context { action } => context::run(&at, action),
        Command::Ingest(args) => data::ingest(&at, &runtime, args),
        Command::Datasets { command } => data::datasets(&at, command),
        Command::Agent { command } => agents::run(&at, &runtime, command),
        Command::Test(args) => runtime.block_on(test::run(&at, args)),
    }
}

/// Logs go to stderr (stdout carries only protocol messages) and, when serving, to
/// `<data-dir>/logs/`. `RUST_LOG` sets the filter; the default is `info`.
pub fn init_logging(dir: Option<&Path>) -> Option<tracing_appender::non_blocking::WorkerGuard> {
    use tracing_subscriber::{EnvFilter, fmt, prelude::*};
    let filter = || EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let stderr = fmt::layer()
        .with_writer(std::io::stderr)
        .with_filter(filter());
    // A data dir that cannot take logs (read-only, full) leaves logging to stderr.
    let appender = dir
        .and_then(|d| std::fs::create_dir_all(d).ok().map(|_| d))
        .and_then(|d| {
            tracing_appender::rolling::Builder::new()
                .rotation(tracing_appender::rolling::Rotation::DAILY)
                .filename_prefix("netra-apex.log")
                .build(d)
                .ok()
        });
    let (file, guard) = match appender {
        Some(appender) => {
            let (writer, guard) = tracing_appender::non_blocking(appender);
            (
                Some(
                    fmt::layer()
                        .with_ansi(false)
                        .with_writer(writer)
                        .with_filter(filter()),
                ),
                Some(guard),
            )
        }
        None => (None, None),
    };
    let _ = tracing_subscriber::registry()
        .with(stderr)
        .with(file)
        .try_init();
    guard
}
