//! The `netra-apex` binary: parse the command line and hand off to [`cli`]. `serve` speaks
//! MCP; every other subcommand is the CLI twin of a tool and calls the same library function.

use clap::Parser;

mod cli;

fn main() -> std::process::ExitCode {
    apex_core::memory::cap_malloc_arenas();
    let args = cli::Cli::parse();
    match cli::run(args) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("netra-apex: {}", apex_mcp::reply::said_once(&e));
            std::process::ExitCode::FAILURE
        }
    }
}
