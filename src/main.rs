//! The `netra-apex` binary: parse the command line and hand off to [`cli`]. `serve` speaks
//! MCP; every other subcommand is the CLI twin of a tool and calls the same library function.

use clap::Parser;

mod cli;

fn main() -> std::process::ExitCode {
    cap_malloc_arenas();
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

/// One glibc malloc arena per core (at least two). glibc gives each thread that allocates under
/// contention an arena of its own (up to 8 per core) and keeps what is freed there: under the
/// soak's 50 clients the server's RSS stepped up after every generation and ingest (+20 %
/// over ten minutes, `malloc_trim` at each run's end included). Capped, it stays flat
/// (BENCHMARKS.md, issue 20); mimalloc was measured too and held 2.5x the memory.
fn cap_malloc_arenas() {
    // glibc reads MALLOC_ARENA_MAX itself: a value the user set wins.
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    if std::env::var_os("MALLOC_ARENA_MAX").is_none() {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        let arenas = i32::try_from(cores).unwrap_or(i32::MAX).max(2);
        // SAFETY: mallopt takes two integers and only sets the allocator's own parameter;
        // no other thread exists yet.
        unsafe {
            libc::mallopt(libc::M_ARENA_MAX, arenas);
        }
    }
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
