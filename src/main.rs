//! The `netra-apex` command line: a thin face over the library. `serve` speaks MCP;
//! every other subcommand is the CLI twin of a tool and calls the same library function.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};

mod demo;
mod search_cli;
mod synth_cli;
mod test_cmd;

#[derive(Parser)]
#[command(
    name = "netra-apex",
    version,
    about = "A local MCP server for AI assistants: code search, shared context, synthetic LLM workload data, tests and cost-optimization agents"
)]
struct Cli {
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
    Serve {
        /// Serve streamable HTTP at http://ADDR/mcp instead of stdio (e.g. 127.0.0.1:8765).
        #[arg(long, value_name = "ADDR")]
        http: Option<SocketAddr>,
        /// Bearer token clients must send; required when ADDR is not loopback.
        #[arg(long, env = "NETRA_APEX_TOKEN", hide_env_values = true)]
        token: Option<String>,
        /// Extra Host header values to accept (DNS-rebinding protection), repeatable.
        #[arg(long = "allow-host", value_name = "HOST")]
        allow_hosts: Vec<String>,
        /// Extra browser Origins to accept, e.g. https://ide.example.com, repeatable.
        #[arg(long = "allow-origin", value_name = "ORIGIN")]
        allow_origins: Vec<String>,
        /// Requests one HTTP client may have in flight at once; more get 429.
        #[arg(long, value_name = "N", default_value_t = netra_apex::mcp::http::DEFAULT_MAX_IN_FLIGHT)]
        max_in_flight: usize,
    },
    /// A scripted MCP session against this server: the first thing to run.
    Demo,
    /// Build or update the codebase index (the twin of the `reindex` tool).
    Index {
        /// Re-read every file instead of only the changed ones.
        #[arg(long)]
        full: bool,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Search the workspace's code (the twin of the `search_code` tool).
    Search {
        /// Text, identifier(s) or regex to look for.
        query: String,
        /// auto, text, regex or symbol.
        #[arg(long, default_value = "auto")]
        mode: String,
        /// Glob over paths relative to the root, e.g. `src/**/*.rs`.
        #[arg(long)]
        path: Option<String>,
        /// Only files of this language.
        #[arg(long)]
        language: Option<String>,
        /// Most hits to return (default 20).
        #[arg(long)]
        limit: Option<usize>,
        /// Token budget (default 4000, at most 20000).
        #[arg(long)]
        max_tokens: Option<usize>,
        /// next_cursor of a previous page.
        #[arg(long)]
        cursor: Option<String>,
        /// Print the structured result as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Generate synthetic LLM workload logs (the CLI twin of generate_synthetic_data).
    Synth(synth_cli::SynthArgs),
    /// Context bundles: export one to a JSON file for git, or import such a file.
    Context {
        #[command(subcommand)]
        action: ContextCommand,
    },
    /// Load workload logs (JSONL, CSV or OTLP-JSON) into a dataset (CLI twin of ingest_logs).
    Ingest {
        /// The log file, inside the workspace.
        path: String,
        /// Name of the dataset to create or replace.
        #[arg(long)]
        dataset: String,
        /// auto, jsonl, csv or otlp-json.
        #[arg(long, default_value = "auto")]
        format: String,
    },
    /// Analysis agents (CLI twin of list_agents / run_agent).
    Agent {
        #[command(subcommand)]
        command: AgentCommand,
    },
    /// Run the workspace's tests with structured results (the CLI twin of run_tests).
    Test {
        /// Directory or file to test, relative to the root (default: the root).
        path: Option<String>,
        /// auto, cargo, pytest, go, jest or vitest.
        #[arg(long, default_value = "auto")]
        framework: String,
        /// Test name or pattern, passed to the runner natively.
        #[arg(long)]
        filter: Option<String>,
        /// A suite declared in apex.toml [tests.suites.NAME].
        #[arg(long)]
        suite: Option<String>,
        /// Seconds before the run is killed (default 600).
        #[arg(long, value_name = "SECONDS")]
        timeout: Option<u64>,
        /// Rough token budget of the summary.
        #[arg(long, default_value_t = netra_apex::testrun::report::DEFAULT_MAX_TOKENS)]
        max_tokens: usize,
        /// Print the summary as JSON.
        #[arg(long)]
        json: bool,
        /// Also print this page (0-based) of the full console log.
        #[arg(long, value_name = "N")]
        log_page: Option<usize>,
        /// Do not print each test as it finishes.
        #[arg(long, short)]
        quiet: bool,
    },
}

#[derive(Subcommand)]
enum ContextCommand {
    /// Write a bundle as JSON (stable, pretty) to FILE or stdout.
    Export {
        /// The bundle's name.
        name: String,
        /// Write here instead of stdout (written atomically).
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
        /// Export this version instead of the newest.
        #[arg(long)]
        version: Option<u32>,
    },
    /// Read a bundle file made by `context export`; it lands as a new version.
    Import {
        /// The JSON file.
        file: PathBuf,
        /// Import under this name instead of the one in the file.
        #[arg(long)]
        name: Option<String>,
    },
}

#[derive(Subcommand)]
enum AgentCommand {
    /// Run an agent and print its markdown report (or its JSON with --json).
    Run {
        /// supervisor, triage, data, optimization, actions or reporting.
        #[arg(long, default_value = "supervisor")]
        agent: String,
        /// The workload dataset to analyse.
        #[arg(long)]
        dataset: Option<String>,
        /// What the user wants, in their words.
        #[arg(long, default_value = "")]
        request: String,
        /// Print the report's JSON instead of its markdown.
        #[arg(long)]
        json: bool,
    },
    /// List the agents and their inputs.
    List,
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("netra-apex: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    let root = match &cli.root {
        Some(r) => r.clone(),
        None => std::env::current_dir().context("cannot read the current directory")?,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    match cli.command {
        Command::Serve {
            http,
            token,
            allow_hosts,
            allow_origins,
            max_in_flight,
        } => {
            let state = netra_apex::mcp::AppState::open(&root, cli.data_dir.as_deref())?;
            let _guard = init_logging(Some(&state.workspace.data_dir().join("logs")));
            let interrupted = netra_apex::store::runs::mark_interrupted(&state.store)?;
            netra_apex::store::testruns::mark_interrupted(
                &state.store,
                &netra_apex::events::now_ts(),
            )?;
            let abandoned = netra_apex::store::datasets::remove_abandoned_staging(&state.store)?;
            if abandoned > 0 {
                tracing::warn!(
                    abandoned,
                    "staged records of an unfinished generation (its process is gone) were removed"
                );
            }
            if interrupted > 0 {
                tracing::warn!(
                    interrupted,
                    "runs left running by an earlier server were marked interrupted"
                );
            }
            // Keep the index fresh while serving; the server works without it.
            let _watcher = state
                .search
                .watch()
                .map_err(|e| tracing::warn!(error = %e, "no file watcher: the index refreshes only on reindex"))
                .ok();
            runtime.block_on(async move {
                match http {
                    Some(addr) => {
                        let opts = netra_apex::mcp::http::HttpOptions {
                            addr,
                            token,
                            allowed_hosts: allow_hosts,
                            allowed_origins: allow_origins,
                            max_in_flight,
                        };
                        netra_apex::mcp::http::serve_http(state, opts).await
                    }
                    None => netra_apex::mcp::serve_stdio(state).await,
                }
            })
        }
        Command::Context { action } => context_command(&root, cli.data_dir.as_deref(), action),
        Command::Ingest {
            path,
            dataset,
            format,
        } => ingest_cli(&root, cli.data_dir.as_deref(), &path, &dataset, &format),
        Command::Agent { command } => agent_cli(&root, cli.data_dir.as_deref(), command),
        Command::Demo => {
            let _guard = init_logging(None);
            runtime.block_on(demo::run(&root, cli.data_dir.as_deref()))
        }
        Command::Index { full, json } => {
            let _guard = init_logging(None);
            search_cli::index(&root, cli.data_dir.as_deref(), full, json)
        }
        Command::Search {
            query,
            mode,
            path,
            language,
            limit,
            max_tokens,
            cursor,
            json,
        } => {
            let _guard = init_logging(None);
            let req = netra_apex::search::SearchRequest {
                query,
                mode: mode.parse()?,
                path,
                language,
                limit,
                max_tokens,
                cursor,
            };
            search_cli::search(&root, cli.data_dir.as_deref(), req, json)
        }
        Command::Test {
            path,
            framework,
            filter,
            suite,
            timeout,
            max_tokens,
            json,
            log_page,
            quiet,
        } => {
            let req = netra_apex::testrun::TestRequest {
                path,
                framework: Some(framework),
                filter,
                suite,
                timeout_s: timeout,
                nextest: None,
            };
            let args = test_cmd::TestArgs {
                req,
                max_tokens,
                json,
                log_page,
                quiet,
            };
            runtime.block_on(test_cmd::run(&root, cli.data_dir.as_deref(), args))
        }
        Command::Synth(args) => synth_cli::run(&root, cli.data_dir.as_deref(), args),
    }
}

/// `netra-apex context export|import`: the CLI twin of the context tools' storage.
fn context_command(
    root: &std::path::Path,
    data_dir: Option<&std::path::Path>,
    action: ContextCommand,
) -> anyhow::Result<()> {
    let ws = netra_apex::workspace::Workspace::open(root, data_dir)?;
    let store = netra_apex::store::Store::open(&ws.db_path())?;
    match action {
        ContextCommand::Export { name, out, version } => {
            let json = netra_apex::context::export(&store, &name, version)?;
            match out {
                None => print!("{json}"),
                Some(path) => {
                    let tmp = path.with_extension(format!("tmp-{}", std::process::id()));
                    std::fs::write(&tmp, &json)
                        .with_context(|| format!("cannot write {}", tmp.display()))?;
                    std::fs::rename(&tmp, &path)
                        .with_context(|| format!("cannot write {}", path.display()))?;
                    eprintln!("exported context `{name}` to {}", path.display());
                }
            }
        }
        ContextCommand::Import { file, name } => {
            let json = std::fs::read_to_string(&file)
                .with_context(|| format!("cannot read {}", file.display()))?;
            let out = netra_apex::context::import(&store, &json, name.as_deref())?;
            println!(
                "imported context `{}` as version {} ({} items)",
                out.name, out.version, out.items
            );
            for r in &out.redactions {
                println!("redacted {} {} ({})", r.count, r.kind, r.places.join(", "));
            }
        }
    }
    Ok(())
}

fn open_store(
    root: &std::path::Path,
    data_dir: Option<&std::path::Path>,
) -> anyhow::Result<(
    netra_apex::workspace::Workspace,
    std::sync::Arc<netra_apex::store::Store>,
)> {
    let ws = netra_apex::workspace::Workspace::open(root, data_dir)?;
    let store = netra_apex::store::Store::open(&ws.db_path())?;
    Ok((ws, std::sync::Arc::new(store)))
}

fn ingest_cli(
    root: &std::path::Path,
    data_dir: Option<&std::path::Path>,
    path: &str,
    dataset: &str,
    format: &str,
) -> anyhow::Result<()> {
    use netra_apex::agents::ingest;
    let (ws, store) = open_store(root, data_dir)?;
    let format = ingest::LogFormat::parse(format)?;
    let path = ws.resolve(path)?;
    let report = ingest::ingest(
        &store,
        netra_apex::agents::pricing::PriceCatalog::builtin(),
        &path,
        format,
        dataset,
        &tokio_util::sync::CancellationToken::new(),
    )?;
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
        "dataset {}: {} accepted, {} rejected, spend ${:.2}, {} ms",
        report.dataset, report.accepted, report.rejected, report.spend_usd, report.elapsed_ms
    );
    Ok(())
}

fn agent_cli(
    root: &std::path::Path,
    data_dir: Option<&std::path::Path>,
    command: AgentCommand,
) -> anyhow::Result<()> {
    use netra_apex::agents;
    match command {
        AgentCommand::List => {
            for a in agents::list_agents() {
                println!("{:<13} {}", a.name, a.description);
            }
            Ok(())
        }
        AgentCommand::Run {
            agent,
            dataset,
            request,
            json,
        } => {
            let (_ws, store) = open_store(root, data_dir)?;
            let req = agents::AgentRequest {
                agent: agents::AgentKind::parse(&agent)?,
                request,
                dataset,
            };
            let run_id = netra_apex::events::new_run_id("agent");
            let log = netra_apex::store::runs::RunLog::new(store.clone(), run_id.clone())
                .with_listener(|e, _| eprintln!("{}", e.short_message()));
            let report = agents::run_recorded(
                &store,
                agents::pricing::PriceCatalog::builtin(),
                &run_id,
                &req,
                &agents::narrator::DeterministicNarrator,
                &log,
                &tokio_util::sync::CancellationToken::new(),
            )?;
            if json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                println!("{}", agents::report::markdown(&report));
            }
            eprintln!("run {run_id}");
            Ok(())
        }
    }
}

/// Logs go to stderr (stdout carries only protocol messages) and, when serving, to
/// `<data-dir>/logs/`. `RUST_LOG` sets the filter; the default is `info`.
fn init_logging(
    dir: Option<&std::path::Path>,
) -> Option<tracing_appender::non_blocking::WorkerGuard> {
    use tracing_subscriber::{EnvFilter, fmt, prelude::*};
    let filter = || EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let stderr = fmt::layer()
        .with_writer(std::io::stderr)
        .with_filter(filter());
    let (file, guard) = match dir.and_then(|d| std::fs::create_dir_all(d).ok().map(|_| d)) {
        Some(d) => {
            let appender = tracing_appender::rolling::daily(d, "netra-apex.log");
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
