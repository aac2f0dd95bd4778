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
            eprintln!("netra-apex: {}", said_once(&e));
            std::process::ExitCode::FAILURE
        }
    }
}

/// An error and its causes joined by ": ", each said once: a cause whose text the message
/// already holds (a wrapper that quotes its source) is left out.
fn said_once(e: &anyhow::Error) -> String {
    let mut out = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if out.contains(&text) {
            continue;
        }
        if !out.is_empty() {
            out.push_str(": ");
        }
        out.push_str(&text);
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_cause_quoted_by_its_wrapper_is_said_once() {
        let inner = std::io::Error::other("No space left on device (os error 28)");
        let e = anyhow::Error::new(inner)
            .context("cannot write out.json: No space left on device (os error 28)");
        assert_eq!(
            super::said_once(&e),
            "cannot write out.json: No space left on device (os error 28)"
        );
        let e = anyhow::anyhow!("root cause").context("while saving");
        assert_eq!(super::said_once(&e), "while saving: root cause");
    }
}
