//! Test support shared by the crates' unit tests and the integration tests: how a test
//! whose external tool (a test runner, a browser, a Python package) is missing reports
//! itself, and copying fixture trees. A dev-dependency only; never part of the binary.

use std::io::Write;
use std::path::Path;

/// The environment variable that turns a missing tool from a skip into a failure. CI sets
/// it, and installs every tool a test needs, so no test passes without having run.
pub const REQUIRE_TOOLS: &str = "APEX_REQUIRE_TOOLS";

/// Whether test `test` can run: true when `available`. Otherwise it says
/// `SKIPPED <test>: <why>` on stderr (past the test harness's output capture, so the line
/// shows in every log) and answers false, and the test returns; with `APEX_REQUIRE_TOOLS`
/// set it fails instead.
pub fn tool_available(test: &str, available: bool, why: &str) -> bool {
    if available {
        return true;
    }
    if std::env::var_os(REQUIRE_TOOLS).is_some_and(|v| !v.is_empty() && v != "0") {
        panic!("{test}: {why} ({REQUIRE_TOOLS} is set: a missing tool fails the test)");
    }
    // Not eprintln!: the harness captures the print macros of passing tests.
    let _ = writeln!(std::io::stderr(), "SKIPPED {test}: {why}");
    false
}

/// Whether `program` is on PATH (an executable file in one of its directories).
pub fn on_path(program: &str) -> bool {
    std::env::var_os("PATH").is_some_and(|paths| {
        std::env::split_paths(&paths).any(|dir| {
            let p = dir.join(program);
            p.is_file()
                && std::fs::metadata(&p)
                    .map(|m| {
                        use std::os::unix::fs::PermissionsExt;
                        m.permissions().mode() & 0o111 != 0
                    })
                    .unwrap_or(false)
        })
    })
}

/// Copy the tree at `from` into `to`, leaving out entries named in `skip` (e.g.
/// `node_modules`, `target`).
pub fn copy_tree(from: &Path, to: &Path, skip: &[&str]) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let name = entry.file_name();
        if skip.iter().any(|s| name == *s) {
            continue;
        }
        let dest = to.join(&name);
        if entry.file_type()?.is_dir() {
            copy_tree(&entry.path(), &dest, skip)?;
        } else {
            std::fs::copy(entry.path(), dest)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_present_tool_runs_and_a_path_lookup_finds_sh() {
        assert!(tool_available("t", true, "unused"));
        assert!(on_path("sh"));
        assert!(!on_path("no-such-program-anywhere"));
    }

    #[test]
    fn copy_tree_skips_what_it_is_told() {
        let from = std::env::temp_dir().join(format!("apex-testkit-{}", std::process::id()));
        let to = from.with_extension("copy");
        std::fs::create_dir_all(from.join("a/node_modules")).unwrap();
        std::fs::write(from.join("a/x.txt"), "x").unwrap();
        std::fs::write(from.join("a/node_modules/y"), "y").unwrap();
        copy_tree(&from, &to, &["node_modules"]).unwrap();
        assert_eq!(std::fs::read_to_string(to.join("a/x.txt")).unwrap(), "x");
        assert!(!to.join("a/node_modules").exists());
        let _ = std::fs::remove_dir_all(&from);
        let _ = std::fs::remove_dir_all(&to);
    }
}
