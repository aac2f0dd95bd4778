//! Rust tests: libtest's stable console lines (`test NAME ... ok|FAILED|ignored` and the
//! `---- NAME stdout ----` failure sections) as `cargo test` prints them, and
//! cargo-nextest's status lines with their immediate failure output.

use std::sync::LazyLock;

use regex::Regex;

use super::{OutputParser, Parsed, Stream, split_location, test};
use apex_store::testruns::TestResult;

/// The message and location of a Rust panic in captured output.
pub fn panic_details(output: &str) -> (Option<String>, Option<(String, u32)>) {
    let lines: Vec<&str> = output.lines().collect();
    for (i, l) in lines.iter().enumerate() {
        let Some(at) = l.find("panicked at ") else {
            continue;
        };
        let rest = l[at + "panicked at ".len()..].trim_end();
        // Since Rust 1.73: `panicked at src/lib.rs:24:9:` then the message on the next lines.
        if let Some(loc) = rest.strip_suffix(':') {
            let message: Vec<&str> = lines[i + 1..]
                .iter()
                .take_while(|m| {
                    !m.starts_with("stack backtrace:")
                        && !m.starts_with("note: ")
                        && !m.contains("panicked at ")
                })
                .copied()
                .collect();
            let message = message.join("\n").trim().to_string();
            return (Some(message), split_location(loc));
        }
        // Older: `panicked at 'message', src/lib.rs:24:9`.
        if let Some(q) = rest.strip_prefix('\'')
            && let Some(end) = q.rfind("', ")
        {
            return (Some(q[..end].to_string()), split_location(&q[end + 3..]));
        }
    }
    (None, None)
}

/// Captured output without what adds nothing to the panic: libtest's own framing lines
/// (nextest runs each test in a libtest binary) and backtrace frames. The console log
/// keeps everything.
pub fn clean_output(output: &str) -> String {
    let mut out = Vec::new();
    let mut in_backtrace = false;
    let mut in_failure_list = false;
    for line in output.lines() {
        let t = line.trim();
        if t == "stack backtrace:" {
            in_backtrace = true;
            continue;
        }
        if in_backtrace {
            let frame = t
                .split_once(": ")
                .is_some_and(|(n, _)| n.parse::<u32>().is_ok())
                || t.starts_with("at ");
            if frame {
                continue;
            }
            in_backtrace = false;
        }
        if t == "failures:" {
            in_failure_list = true;
            continue;
        }
        if in_failure_list && (line.starts_with("    ") || t.is_empty()) {
            continue;
        }
        in_failure_list = false;
        let framing = t.starts_with("running ") && t.ends_with(" test")
            || t.starts_with("running ") && t.ends_with(" tests")
            || t.starts_with("test result: ")
            || (t.starts_with("test ") && (t.ends_with(" ... FAILED") || t.ends_with(" ... ok")))
            || t == "stdout ───"
            || t == "stderr ───"
            || t.starts_with("note: Some details are omitted");
        if !framing {
            out.push(line);
        }
    }
    let joined = out.join("\n");
    joined.trim_matches('\n').to_string()
}

fn with_panic(mut t: TestResult, output: String) -> TestResult {
    let output = clean_output(&output);
    let (message, loc) = panic_details(&output);
    t.message = message.filter(|m| !m.is_empty()).or_else(|| {
        output
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .map(|l| l.trim().to_string())
    });
    if let Some((f, l)) = loc {
        t.file = Some(f);
        t.line = Some(l);
    }
    t.output = Some(output);
    t
}

static TEST_LINE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^test (.+?) \.\.\. (ok|FAILED|ignored(?:, (.*))?|bench:.*)$")
        .expect("static regex")
});
static RUNNING: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^\s*(?:Running (?:unittests )?(\S+)|Doc-tests (\S+))").expect("static regex")
});

/// `cargo test`'s console output.
#[derive(Default)]
pub struct Libtest {
    group: String,
    /// Failed tests of the current binary, waiting for their failure sections.
    pending: Vec<TestResult>,
    section: Option<(String, String)>,
    sections: Vec<(String, String)>,
}

impl Libtest {
    fn close_section(&mut self) {
        if let Some(s) = self.section.take() {
            self.sections.push(s);
        }
    }

    fn flush(&mut self, out: &mut Vec<Parsed>) {
        self.close_section();
        for t in self.pending.drain(..) {
            let output = self
                .sections
                .iter()
                .find(|(n, _)| *n == t.name)
                .map(|(_, o)| o.trim_matches('\n').to_string())
                .unwrap_or_default();
            out.push(Parsed::Test(with_panic(t, output)));
        }
        self.sections.clear();
    }
}

impl OutputParser for Libtest {
    fn line(&mut self, _stream: Stream, line: &str, out: &mut Vec<Parsed>) {
        if let Some(c) = RUNNING.captures(line) {
            self.flush(out);
            self.group = match (c.get(1), c.get(2)) {
                (Some(src), _) => src.as_str().to_string(),
                (None, Some(krate)) => format!("doctests {}", krate.as_str()),
                _ => String::new(),
            };
            return;
        }
        if let Some(name) = line.strip_prefix("---- ").and_then(|l| {
            l.strip_suffix(" stdout ----")
                .or_else(|| l.strip_suffix(" stderr ----"))
        }) {
            self.close_section();
            self.section = Some((name.to_string(), String::new()));
            return;
        }
        if let Some((_, text)) = &mut self.section {
            if line == "failures:" || line.starts_with("test result: ") {
                self.close_section();
            } else {
                text.push_str(line);
                text.push('\n');
                return;
            }
        }
        if line.starts_with("test result: ") {
            self.flush(out);
            return;
        }
        if let Some(c) = TEST_LINE.captures(line) {
            let raw = &c[1];
            let name = raw.strip_suffix(" - should panic").unwrap_or(raw);
            let verdict = &c[2];
            if verdict == "FAILED" {
                self.pending.push(test(&self.group, name, "failed"));
            } else if verdict.starts_with("ignored") {
                let mut t = test(&self.group, name, "skipped");
                t.message = c.get(3).map(|m| m.as_str().to_string());
                out.push(Parsed::Test(t));
            } else {
                out.push(Parsed::Test(test(&self.group, name, "passed")));
            }
        }
    }

    fn finish(&mut self, out: &mut Vec<Parsed>) {
        self.flush(out);
    }
}

static NEXTEST_STATUS: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"^\s+(PASS|FAIL|SKIP|FLAKY|TIMEOUT|LEAK|LEAK-FAIL|ABORT|SIG[A-Z]+|TRY \d+ \S+|RETRY \d+/\d+|SLOW|TERMINATING|SETUP \S+|START|CANCEL) \[\s*(?:([\d.]+)s|[^\]]*)\]\s+(?:\(\s*\d+/\d+\)\s+)?(\S+) (.+?)\s*$",
    )
    .expect("static regex")
});
static NEXTEST_START: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^\s*Starting (\d+) tests? across \d+ binar(?:y|ies)(?: \((\d+) tests? skipped)?")
        .expect("static regex")
});

/// cargo-nextest's console output (stderr): `PASS [ 0.005s] crate tests::name` lines, each
/// failure followed by its indented output.
pub struct Nextest {
    filter: Option<String>,
    pending: Option<(TestResult, String)>,
}

impl Nextest {
    pub fn new(filter: Option<String>) -> Self {
        Self {
            filter,
            pending: None,
        }
    }

    fn flush(&mut self, out: &mut Vec<Parsed>) {
        if let Some((t, output)) = self.pending.take() {
            let keep_message = t.message.clone();
            let mut t = with_panic(t, output.trim_matches('\n').to_string());
            if let Some(m) = keep_message {
                t.message = Some(match t.message {
                    Some(p) if !p.is_empty() => format!("{m}: {p}"),
                    _ => m,
                });
            }
            out.push(Parsed::Test(t));
        }
    }
}

impl OutputParser for Nextest {
    fn line(&mut self, _stream: Stream, line: &str, out: &mut Vec<Parsed>) {
        if let Some(c) = NEXTEST_START.captures(line) {
            // Skipped tests get a SKIP line too, except those a filter left out.
            let skipped = match (&self.filter, c.get(2)) {
                (None, Some(k)) => k.as_str().parse::<u64>().unwrap_or(0),
                _ => 0,
            };
            if let Ok(n) = c[1].parse::<u64>() {
                out.push(Parsed::Count(n + skipped));
            }
            return;
        }
        if let Some(c) = NEXTEST_STATUS.captures(line) {
            self.flush(out);
            let status = &c[1];
            let duration_ms = c
                .get(2)
                .and_then(|d| d.as_str().parse::<f64>().ok())
                .map(|s| s * 1000.0);
            let (group, name) = (&c[3], &c[4]);
            let mut t = test(group, name, "passed");
            t.duration_ms = duration_ms;
            match status {
                "PASS" | "LEAK" => out.push(Parsed::Test(t)),
                "FLAKY" => {
                    t.message = Some("passed after a retry".into());
                    out.push(Parsed::Test(t));
                }
                // With a filter nextest lists every filtered-out test as skipped too;
                // libtest leaves those out, and so do we.
                "SKIP" if self.filter.as_deref().is_none_or(|f| name.contains(f)) => {
                    t.status = "skipped".into();
                    out.push(Parsed::Test(t));
                }
                "FAIL" | "LEAK-FAIL" => {
                    t.status = "failed".into();
                    self.pending = Some((t, String::new()));
                }
                "TIMEOUT" => {
                    t.status = "failed".into();
                    t.message = Some("timed out (nextest slow-timeout)".into());
                    self.pending = Some((t, String::new()));
                }
                s if s == "ABORT" || s.starts_with("SIG") => {
                    t.status = "errored".into();
                    t.message = Some(format!("the test process crashed ({s})"));
                    self.pending = Some((t, String::new()));
                }
                _ => {}
            }
            return;
        }
        if let Some((_, output)) = &mut self.pending {
            if line.starts_with("────")
                || line.starts_with("error: ")
                || line.contains(" Summary [")
            {
                self.flush(out);
            } else {
                let text = line.strip_prefix("    ").unwrap_or(line);
                output.push_str(text);
                output.push('\n');
            }
        }
    }

    fn finish(&mut self, out: &mut Vec<Parsed>) {
        self.flush(out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feed(p: &mut dyn OutputParser, text: &str) -> Vec<Parsed> {
        let mut out = Vec::new();
        for l in text.lines() {
            p.line(Stream::Stdout, l, &mut out);
        }
        p.finish(&mut out);
        out
    }

    fn tests(out: &[Parsed]) -> Vec<&TestResult> {
        out.iter()
            .filter_map(|p| match p {
                Parsed::Test(t) => Some(t),
                _ => None,
            })
            .collect()
    }

    const CARGO_TEST: &str =
        "     Running unittests src/lib.rs (target/debug/deps/apex_fixture-a715)

running 4 tests
test tests::adds_small_numbers ... ok
test tests::needs_network ... ignored, needs a network
test tests::wrong_sum_fails ... FAILED
test tests::panics - should panic ... ok

failures:

---- tests::wrong_sum_fails stdout ----
about to compare

thread 'tests::wrong_sum_fails' (28273) panicked at src/lib.rs:24:9:
assertion `left == right` failed: two plus two is not five
  left: 4
 right: 5
stack backtrace:
   0: __rustc::rust_begin_unwind
note: Some details are omitted, run with `RUST_BACKTRACE=full` for a verbose backtrace.


failures:
    tests::wrong_sum_fails

test result: FAILED. 2 passed; 1 failed; 1 ignored; 0 measured; 0 filtered out; finished in 0.09s
";

    #[test]
    fn libtest_lines_and_failure_sections() {
        let out = feed(&mut Libtest::default(), CARGO_TEST);
        let ts = tests(&out);
        let summary: Vec<_> = ts
            .iter()
            .map(|t| (t.name.as_str(), t.status.as_str()))
            .collect();
        assert_eq!(
            summary,
            vec![
                ("tests::adds_small_numbers", "passed"),
                ("tests::needs_network", "skipped"),
                ("tests::panics", "passed"),
                ("tests::wrong_sum_fails", "failed"),
            ]
        );
        let failed = ts[3];
        assert_eq!(failed.group, "src/lib.rs");
        assert_eq!(
            failed.message.as_deref(),
            Some(
                "assertion `left == right` failed: two plus two is not five\n  left: 4\n right: 5"
            )
        );
        assert_eq!(
            (failed.file.as_deref(), failed.line),
            (Some("src/lib.rs"), Some(24))
        );
        assert!(
            failed
                .output
                .as_deref()
                .unwrap()
                .starts_with("about to compare")
        );
        assert_eq!(ts[1].message.as_deref(), Some("needs a network"));
    }

    #[test]
    fn libtest_killed_mid_run_still_reports_pending_failures() {
        let out = feed(
            &mut Libtest::default(),
            "running 2 tests\ntest a ... FAILED\ntest b has been running for over 60 seconds\n",
        );
        let ts = tests(&out);
        assert_eq!(ts.len(), 1);
        assert_eq!(ts[0].status, "failed");
    }

    #[test]
    fn old_panic_format() {
        let (m, loc) = panic_details("thread 'x' panicked at 'boom', src/a.rs:3:5\n");
        assert_eq!(m.as_deref(), Some("boom"));
        assert_eq!(loc, Some(("src/a.rs".into(), 3)));
    }

    const NEXTEST: &str = "    Starting 5 tests across 1 binary (1 test skipped)
        PASS [   0.008s] apex-fixture tests::adds_small_numbers
        SKIP [         ] apex-fixture tests::needs_network
        FAIL [   0.122s] (3/5) apex-fixture tests::wrong_sum_fails
  stdout ───

    running 1 test
    about to compare
  stderr ───

    thread 'tests::wrong_sum_fails' (31198) panicked at src/lib.rs:24:9:
    two plus two is not five
    stack backtrace:

     SIGSEGV [   0.010s] apex-fixture tests::crashes
────────────
";

    #[test]
    fn nextest_status_lines_with_failure_output() {
        let out = feed(&mut Nextest::new(None), NEXTEST);
        assert_eq!(out[0], Parsed::Count(6));
        let ts = tests(&out);
        let summary: Vec<_> = ts
            .iter()
            .map(|t| (t.name.as_str(), t.status.as_str()))
            .collect();
        assert_eq!(
            summary,
            vec![
                ("tests::adds_small_numbers", "passed"),
                ("tests::needs_network", "skipped"),
                ("tests::wrong_sum_fails", "failed"),
                ("tests::crashes", "errored"),
            ]
        );
        assert_eq!(ts[0].group, "apex-fixture");
        assert_eq!(ts[0].duration_ms, Some(8.0));
        assert_eq!(ts[2].message.as_deref(), Some("two plus two is not five"));
        assert_eq!(ts[2].line, Some(24));
        assert!(
            ts[2]
                .output
                .as_deref()
                .unwrap()
                .contains("about to compare")
        );
        assert_eq!(
            ts[3].message.as_deref(),
            Some("the test process crashed (SIGSEGV)")
        );
        // With a filter, tests it left out are not reported as skipped.
        let out = feed(&mut Nextest::new(Some("adds".into())), NEXTEST);
        assert!(tests(&out).iter().all(|t| t.name != "tests::needs_network"));
    }
}
