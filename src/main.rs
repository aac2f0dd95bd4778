//! The `netra-apex` command line: a thin face over the library. `serve` speaks MCP;
//! every other subcommand is the CLI twin of a tool and calls the same library function.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};

mod demo;
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
            if interrupted > 0 {
                tracing::warn!(
                    interrupted,
                    "runs left running by an earlier server were marked interrupted"
                );
            }
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
        Command::Demo => {
            let _guard = init_logging(None);
            runtime.block_on(demo::run(&root, cli.data_dir.as_deref()))
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
