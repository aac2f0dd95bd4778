//! Runs of the real fixture projects under tests/fixtures/testrun/ with the real runners.
//! A runner that is not installed makes its test say `SKIPPED <name>` and return (or fail,
//! where `APEX_REQUIRE_TOOLS` is set, as in CI).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use super::*;
use apex_core::events::CollectingSink;

fn fixture_src(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/testrun")
        .join(name)
}

fn copy_dir(from: &Path, to: &Path) {
    apex_testkit::copy_tree(from, to, &["node_modules", "target", "__pycache__"]).unwrap();
}

/// A copy of fixture `name` in a temp dir, as a workspace with its store.
fn workspace(name: &str) -> (tempfile::TempDir, Workspace, Arc<Store>) {
    let dir = tempfile::tempdir().unwrap();
    copy_dir(&fixture_src(name), dir.path());
    let ws = Workspace::open(dir.path(), None).unwrap();
    let store = Arc::new(Store::open(&ws.db_path()).unwrap());
    (dir, ws, store)
}

async fn run(
    ws: &Workspace,
    store: &Arc<Store>,
    req: TestRequest,
) -> (TestRunOutcome, CollectingSink) {
    let plan = prepare(ws, &req).unwrap();
    let sink = CollectingSink::new();
    let id = apex_core::events::new_run_id("test");
    let out = execute(ws, store, &id, &plan, &sink, &CancellationToken::new())
        .await
        .unwrap();
    (out, sink)
}

fn statuses(o: &TestRunOutcome) -> Vec<(String, String)> {
    let mut v: Vec<_> = o
        .results
        .iter()
        .map(|r| (r.name.clone(), r.status.clone()))
        .collect();
    v.sort();
    v
}

fn result<'a>(o: &'a TestRunOutcome, name_part: &str) -> &'a TestResult {
    o.results
        .iter()
        .find(|r| r.name.contains(name_part))
        .unwrap_or_else(|| panic!("no result named like {name_part}: {:?}", statuses(o)))
}

fn pairs(v: &[(&str, &str)]) -> Vec<(String, String)> {
    v.iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}

/// The events are suite_started, one test_finished per result, suite_finished.
fn assert_event_shape(sink: &CollectingSink, results: usize) {
    let names = sink.names();
    assert_eq!(
        names.first().map(String::as_str),
        Some("suite_started"),
        "{names:?}"
    );
    assert_eq!(
        names.last().map(String::as_str),
        Some("suite_finished"),
        "{names:?}"
    );
    assert_eq!(
        names.iter().filter(|n| *n == "test_finished").count(),
        results,
        "{names:?}"
    );
}

fn cargo_expected() -> Vec<(String, String)> {
    pairs(&[
        ("tests::adds_negative_numbers", "passed"),
        ("tests::adds_small_numbers", "passed"),
        ("tests::hang_forever", "passed"),
        ("tests::needs_network", "skipped"),
        ("tests::panics_on_purpose", "failed"),
        ("tests::wrong_sum_fails", "failed"),
    ])
}

fn check_cargo_failures(o: &TestRunOutcome) {
    let wrong = result(o, "wrong_sum_fails");
    assert_eq!(
        wrong.message.as_deref(),
        Some("assertion `left == right` failed: two plus two is not five\n  left: 4\n right: 5")
    );
    assert_eq!(
        (wrong.file.as_deref(), wrong.line),
        (Some("src/lib.rs"), Some(24))
    );
    assert!(
        wrong
            .output
            .as_deref()
            .unwrap_or("")
            .contains("about to compare")
    );
    let panic = result(o, "panics_on_purpose");
    assert_eq!(
        panic.message.as_deref(),
        Some("boom: the fixture panicked on purpose")
    );
    assert_eq!(panic.line, Some(33));
}

#[tokio::test]
async fn cargo_with_libtest_lines() {
    let (_d, ws, store) = workspace("cargo");
    let req = TestRequest {
        nextest: Some(false),
        ..Default::default()
    };
    let (o, sink) = run(&ws, &store, req).await;
    assert_eq!(o.run.command[1], "test");
    assert_eq!(statuses(&o), cargo_expected());
    assert_eq!(o.run.status, "failed");
    assert_eq!(
        (
            o.run.counts.passed,
            o.run.counts.failed,
            o.run.counts.skipped
        ),
        (3, 2, 1)
    );
    check_cargo_failures(&o);
    assert_eq!(
        result(&o, "needs_network").message.as_deref(),
        Some("needs a network")
    );
    assert_event_shape(&sink, 6);
    // The full console log is kept and paged.
    let page = read_log(&store, &o.run.id, 0).unwrap();
    assert!(
        page.text
            .contains("test result: FAILED. 3 passed; 2 failed; 1 ignored")
    );
    assert!(read_log(&store, &o.run.id, page.pages).is_err());
}

#[tokio::test]
async fn cargo_with_nextest() {
    if !apex_testkit::tool_available(
        "cargo_with_nextest",
        detect::find_program("cargo-nextest", &[]).is_some(),
        "cargo-nextest is not installed (cargo install cargo-nextest --locked)",
    ) {
        return;
    }
    let (_d, ws, store) = workspace("cargo");
    let req = TestRequest {
        nextest: Some(true),
        ..Default::default()
    };
    let (o, sink) = run(&ws, &store, req).await;
    assert_eq!(o.run.command[1], "nextest");
    assert_eq!(statuses(&o), cargo_expected());
    check_cargo_failures(&o);
    assert!(result(&o, "adds_small").duration_ms.is_some());
    assert_eq!(result(&o, "adds_small").group, "apex-fixture");
    assert_event_shape(&sink, 6);
    // nextest announces the count: suite_started carries it.
    let (_, started) = &sink.events()[0];
    assert_eq!(started["total"], 6);
}

#[tokio::test]
async fn cargo_filter_selects_the_hang_and_the_timeout_kills_it() {
    let (d, _, _) = workspace("cargo");
    // The filter goes after `--`, as libtest wants it.
    let ws = Workspace::open(d.path(), None).unwrap();
    let plan = prepare(
        &ws,
        &TestRequest {
            nextest: Some(false),
            filter: Some("hang_forever".into()),
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(plan.args[plan.args.len() - 2..], ["--", "hang_forever"]);
    // The same through a declared suite with its own target dir, so that no other build
    // holds the cargo lock while the timeout runs.
    std::fs::write(
        d.path().join("apex.toml"),
        "[tests.suites.unit]\ncommand = \"cargo test\"\nformat = \"libtest\"\nenv = { CARGO_TARGET_DIR = \"target\" }\n",
    )
    .unwrap();
    let ws = Workspace::open(d.path(), None).unwrap();
    let store = Arc::new(Store::open(&ws.db_path()).unwrap());
    let warm = TestRequest {
        suite: Some("unit".into()),
        ..Default::default()
    };
    let (o, _) = run(&ws, &store, warm.clone()).await;
    assert_eq!(statuses(&o), cargo_expected());
    let req = TestRequest {
        filter: Some("hang_forever".into()),
        timeout_s: Some(8),
        ..warm
    };
    let (o, sink) = run(&ws, &store, req).await;
    assert_eq!(
        o.run.command[o.run.command.len() - 2..],
        ["--", "hang_forever"]
    );
    assert_eq!(o.run.status, "timed_out");
    let err = o.run.error.as_deref().unwrap();
    assert!(err.contains("within 8 s"), "{err}");
    assert!(err.contains("running 1 test"), "{err}");
    assert_eq!(
        sink.names().last().map(String::as_str),
        Some("suite_finished")
    );
}

fn pytest_available(test: &str) -> bool {
    let ok = std::env::var("APEX_PYTEST").is_ok_and(|p| Path::new(&p).is_file())
        || detect::find_program("pytest", &[]).is_some();
    apex_testkit::tool_available(
        test,
        ok,
        "pytest not found (set APEX_PYTEST or put pytest on PATH)",
    )
}

#[tokio::test]
async fn pytest_results_stream_through_the_plugin() {
    if !pytest_available("pytest_results_stream_through_the_plugin") {
        return;
    }
    let (d, ws, store) = workspace("pytest");
    let (o, sink) = run(&ws, &store, TestRequest::default()).await;
    assert_eq!(
        statuses(&o),
        pairs(&[
            ("tests/test_sample.py::test_adds_negative_numbers", "passed"),
            ("tests/test_sample.py::test_adds_small_numbers", "passed"),
            ("tests/test_sample.py::test_needs_network", "skipped"),
            ("tests/test_sample.py::test_raises_on_purpose", "failed"),
            ("tests/test_sample.py::test_uses_broken_fixture", "errored"),
            ("tests/test_sample.py::test_wrong_sum_fails", "failed"),
        ])
    );
    assert_eq!(o.run.status, "failed");
    let wrong = result(&o, "test_wrong_sum_fails");
    assert!(
        wrong
            .message
            .as_deref()
            .unwrap()
            .starts_with("AssertionError: two plus two is not five"),
        "{:?}",
        wrong.message
    );
    assert_eq!(
        (wrong.file.as_deref(), wrong.line),
        (Some("tests/test_sample.py"), Some(20))
    );
    assert!(
        wrong
            .output
            .as_deref()
            .unwrap()
            .contains("about to compare")
    );
    assert_eq!(
        result(&o, "raises_on_purpose").message.as_deref(),
        Some("RuntimeError: boom: the fixture raised on purpose")
    );
    assert_eq!(
        result(&o, "broken_fixture").message.as_deref(),
        Some("ValueError: fixture setup failed")
    );
    assert_event_shape(&sink, 6);
    assert_eq!(sink.events()[0].1["total"], 6);
    // Nothing was written into the project besides Python's own caches.
    assert!(!d.path().join(".pytest_cache").exists());
}

#[tokio::test]
async fn pytest_cancellation_kills_the_process_group() {
    if !pytest_available("pytest_cancellation_kills_the_process_group") {
        return;
    }
    let (_d, ws, store) = workspace("pytest");
    let req = TestRequest {
        filter: Some("hang".into()),
        ..Default::default()
    };
    let plan = prepare(&ws, &req).unwrap();
    let sink = CollectingSink::new();
    let cancel = CancellationToken::new();
    let c2 = cancel.clone();
    let id = apex_core::events::new_run_id("test");
    let canceller = tokio::spawn(async move {
        // Let pytest start the hanging test first.
        tokio::time::sleep(Duration::from_millis(1500)).await;
        c2.cancel();
    });
    let t = std::time::Instant::now();
    let o = execute(&ws, &store, &id, &plan, &sink, &cancel)
        .await
        .unwrap();
    canceller.await.unwrap();
    assert!(t.elapsed() < Duration::from_secs(30));
    assert_eq!(o.run.status, "cancelled");
    // No process of the run is left: no pytest whose command line names this workspace.
    let root = ws.root().display().to_string();
    let left: Vec<String> = std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| std::fs::read(e.path().join("cmdline")).ok())
        .map(|c| String::from_utf8_lossy(&c).replace('\0', " "))
        .filter(|c| c.contains("apex_pytest_plugin") && c.contains("hang") && c.contains(&root))
        .collect();
    assert!(left.is_empty(), "{left:?}");
    assert_eq!(
        get_test_run(&store, &id).unwrap().unwrap().run.status,
        "cancelled"
    );
}

#[tokio::test]
async fn go_test_json() {
    if !apex_testkit::tool_available(
        "go_test_json",
        detect::find_program("go", &[]).is_some(),
        "go is not installed (Debian: apt-get install golang-go)",
    ) {
        return;
    }
    let (_d, ws, store) = workspace("go");
    let (o, sink) = run(&ws, &store, TestRequest::default()).await;
    assert_eq!(
        statuses(&o),
        pairs(&[
            ("TestAddsNegativeNumbers", "passed"),
            ("TestAddsSmallNumbers", "passed"),
            ("TestHangForever", "passed"),
            ("TestNeedsNetwork", "skipped"),
            ("TestPanicsOnPurpose", "failed"),
            ("TestWrongSumFails", "failed"),
        ])
    );
    let wrong = result(&o, "TestWrongSumFails");
    assert_eq!(
        wrong.message.as_deref(),
        Some("two plus two is not five: got 4")
    );
    assert_eq!(
        (wrong.file.as_deref(), wrong.line),
        (Some("sample_test.go"), Some(24))
    );
    let panic = result(&o, "TestPanicsOnPurpose");
    assert_eq!(
        panic.message.as_deref(),
        Some("panic: boom: the fixture panicked on purpose")
    );
    assert_eq!(panic.file.as_deref(), Some("sample_test.go"));
    assert_event_shape(&sink, 6);
}

#[tokio::test]
async fn vitest_json_report_and_verbose_stream() {
    let src = fixture_src("vitest");
    if !apex_testkit::tool_available(
        "vitest_json_report_and_verbose_stream",
        src.join("node_modules/.bin/vitest").is_file(),
        "vitest is not installed: run `npm ci --prefix tests/fixtures/testrun/vitest`",
    ) {
        return;
    }
    // Runs in place (node_modules is large); the report goes to a temp data dir.
    let data = tempfile::tempdir().unwrap();
    let ws = Workspace::open(&src, Some(data.path())).unwrap();
    let store = Arc::new(Store::open(&ws.db_path()).unwrap());
    let (o, sink) = run(&ws, &store, TestRequest::default()).await;
    assert_eq!(
        statuses(&o),
        pairs(&[
            ("add > adds negative numbers", "passed"),
            ("add > adds small numbers", "passed"),
            ("add > hang forever", "passed"),
            ("add > needs a network", "skipped"),
            ("add > throws on purpose", "failed"),
            ("add > wrong sum fails", "failed"),
        ])
    );
    let wrong = result(&o, "wrong sum fails");
    assert_eq!(
        wrong.message.as_deref(),
        Some("AssertionError: two plus two is not five: expected 4 to be 5 // Object.is equality")
    );
    assert_eq!(
        (wrong.file.as_deref(), wrong.line),
        (Some("sample.test.js"), Some(16))
    );
    assert_eq!(
        result(&o, "throws on purpose").message.as_deref(),
        Some("Error: boom: the fixture threw on purpose")
    );
    assert_event_shape(&sink, 6);
}

#[test]
fn bad_requests_name_the_field() {
    let (_d, ws, _store) = workspace("cargo");
    let cases = [
        (
            TestRequest {
                filter: Some("--config=evil".into()),
                ..Default::default()
            },
            "`filter`",
        ),
        (
            TestRequest {
                timeout_s: Some(0),
                ..Default::default()
            },
            "`timeout_s`",
        ),
        (
            TestRequest {
                framework: Some("maven".into()),
                ..Default::default()
            },
            "`framework`",
        ),
        (
            TestRequest {
                path: Some("../".into()),
                ..Default::default()
            },
            "outside the workspace root",
        ),
        (
            TestRequest {
                suite: Some("nope".into()),
                ..Default::default()
            },
            "declared suites: none",
        ),
        (
            TestRequest {
                framework: Some("go".into()),
                ..Default::default()
            },
            "go.mod",
        ),
    ];
    for (req, needle) in cases {
        let err = prepare(&ws, &req).unwrap_err().to_string();
        assert!(err.contains(needle), "{needle}: {err}");
    }
}

#[test]
fn detection_walks_up_from_a_sub_path_and_sees_every_marker() {
    let (d, ws, _store) = workspace("cargo");
    std::fs::create_dir_all(d.path().join("src/deep")).unwrap();
    let plan = prepare(
        &ws,
        &TestRequest {
            path: Some("src/deep".into()),
            nextest: Some(false),
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(plan.framework, Framework::Cargo);
    assert_eq!(plan.rel_path, ".");
    // A sub-project with its own marker is found there, not at the root.
    std::fs::create_dir_all(d.path().join("py")).unwrap();
    std::fs::write(d.path().join("py/test_x.py"), "def test_x(): pass\n").unwrap();
    std::fs::create_dir_all(d.path().join("gomod")).unwrap();
    std::fs::write(d.path().join("gomod/go.mod"), "module x\n").unwrap();
    std::fs::create_dir_all(d.path().join("js")).unwrap();
    std::fs::write(
        d.path().join("js/package.json"),
        r#"{"devDependencies": {"jest": "29"}}"#,
    )
    .unwrap();
    for (path, fw) in [
        ("py", Framework::Pytest),
        ("gomod", Framework::Go),
        ("js", Framework::Jest),
    ] {
        let got = detect::plan(
            &ws,
            &TestRequest {
                path: Some(path.into()),
                ..Default::default()
            },
        );
        match got {
            Ok(p) => {
                assert_eq!(p.framework, fw);
                assert_eq!(p.rel_path, path);
            }
            // The runner itself may be missing on this machine: the error names it.
            Err(TestRunError::MissingRunner { program, .. }) => {
                assert!(program.contains(fw.name()), "{program}");
            }
            Err(e) => panic!("{path}: {e}"),
        }
    }
}

#[tokio::test]
async fn apex_toml_suites_run_the_owner_command_only() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("apex.toml"),
        r#"
[tests.suites.fast_feedback]
command = ["sh", "-c", "echo checking; cat report.xml > /dev/null; exit 1"]
format = "junit:report.xml"
timeout = 30
env = { GREETING = "hi" }

[tests.suites.crashes]
command = "sh -c exit\u0020139"
"#,
    )
    .unwrap();
    std::fs::write(
        dir.path().join("report.xml"),
        r#"<testsuite><testcase classname="c" name="a" time="0.1"/><testcase classname="c" name="b"><failure message="bad">trace</failure></testcase></testsuite>"#,
    )
    .unwrap();
    let ws = Workspace::open(dir.path(), None).unwrap();
    let store = Arc::new(Store::open(&ws.db_path()).unwrap());
    let req = TestRequest {
        suite: Some("fast_feedback".into()),
        ..Default::default()
    };
    let plan = prepare(&ws, &req).unwrap();
    assert_eq!(plan.timeout, Duration::from_secs(30));
    assert!(plan.env.contains(&("GREETING".into(), "hi".into())));
    let (o, sink) = run(&ws, &store, req).await;
    assert_eq!(statuses(&o), pairs(&[("a", "passed"), ("b", "failed")]));
    assert_eq!(o.run.status, "failed");
    assert_eq!(o.run.suite.as_deref(), Some("fast_feedback"));
    assert_eq!(o.run.framework, "junit");
    assert_event_shape(&sink, 2);
    // A filter cannot be passed to a suite whose format takes none.
    let err = prepare(
        &ws,
        &TestRequest {
            suite: Some("fast_feedback".into()),
            filter: Some("a".into()),
            ..Default::default()
        },
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("`filter`") && err.contains("junit:report.xml"),
        "{err}"
    );
}

#[tokio::test]
async fn a_runner_that_crashes_is_errored_with_its_output_tail() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("apex.toml"),
        "[tests.suites.broken]\ncommand = [\"sh\", \"-c\", \"echo compiling; echo 'error: linker failed' >&2; exit 101\"]\n",
    )
    .unwrap();
    let ws = Workspace::open(dir.path(), None).unwrap();
    let store = Arc::new(Store::open(&ws.db_path()).unwrap());
    let req = TestRequest {
        suite: Some("broken".into()),
        ..Default::default()
    };
    let (o, _) = run(&ws, &store, req).await;
    assert_eq!(o.run.status, "errored");
    assert_eq!(o.run.exit_code, Some(101));
    let e = o.run.error.as_deref().unwrap();
    assert!(
        e.contains("exited with code 101") && e.contains("error: linker failed"),
        "{e}"
    );
}

#[tokio::test]
async fn commit_dirty_flag_and_flaky_tests_from_git() {
    if !pytest_available("commit_dirty_flag_and_flaky_tests_from_git")
        || !apex_testkit::tool_available(
            "commit_dirty_flag_and_flaky_tests_from_git",
            detect::find_program("git", &[]).is_some(),
            "git is not installed",
        )
    {
        return;
    }
    let (d, ws, store) = workspace("pytest");
    // A test whose outcome depends on an ignored file: flipping it keeps the tree clean.
    std::fs::write(
        d.path().join("tests/test_flip.py"),
        "import os\n\ndef test_flip():\n    assert not os.path.exists(os.path.join(os.path.dirname(__file__), 'flip.flag'))\n",
    )
    .unwrap();
    std::fs::write(d.path().join(".gitignore"), "*.flag\n__pycache__/\n").unwrap();
    let git = |args: &[&str]| {
        let ok = std::process::Command::new("git")
            .current_dir(d.path())
            .args(["-c", "user.email=t@example.com", "-c", "user.name=t"])
            .args(args)
            .status()
            .unwrap()
            .success();
        assert!(ok, "git {args:?}");
    };
    git(&["init", "-q"]);
    git(&["add", "-A"]);
    git(&["commit", "-qm", "fixture"]);
    let req = TestRequest {
        filter: Some("flip".into()),
        ..Default::default()
    };
    let (first, _) = run(&ws, &store, req.clone()).await;
    assert_eq!(first.run.dirty, Some(false));
    assert_eq!(first.run.commit.as_deref().map(str::len), Some(40));
    assert_eq!(first.run.status, "passed");
    std::fs::write(d.path().join("tests/flip.flag"), "").unwrap();
    let (second, _) = run(&ws, &store, req.clone()).await;
    assert_eq!(second.run.status, "failed");
    assert_eq!(
        second.flaky,
        vec!["tests/test_flip.py::test_flip".to_string()]
    );
    // An edit makes the tree dirty; dirty runs never count toward flakiness.
    std::fs::write(
        d.path().join("tests/test_sample.py"),
        "def test_new(): pass\n",
    )
    .unwrap();
    let (third, _) = run(&ws, &store, req).await;
    assert_eq!(third.run.dirty, Some(true));
    let listed = list_test_runs(&store, Some("."), 10).unwrap();
    assert_eq!(listed.len(), 3);
    assert_eq!(listed[0].id, third.run.id);
}

#[test]
fn budget_puts_failures_first_and_bounds_output() {
    let mut results = Vec::new();
    for i in 0..50 {
        results.push(TestResult {
            name: format!("t{i}"),
            status: if i % 2 == 0 { "failed" } else { "passed" }.into(),
            message: Some(format!("message {i}")),
            output: Some("x".repeat(10_000)),
            ..Default::default()
        });
    }
    let outcome = TestRunOutcome {
        run: apex_store::testruns::TestRunRow {
            id: "r".into(),
            path: ".".into(),
            framework: "cargo".into(),
            suite: None,
            filter: None,
            command: vec![],
            commit: None,
            dirty: None,
            status: "failed".into(),
            exit_code: Some(101),
            started_at: String::new(),
            finished_at: None,
            duration_ms: Some(1000),
            counts: TestCounts::of(&results),
            log_path: None,
            error: None,
        },
        results,
        flaky: vec![],
    };
    let s = report::summarize(&outcome, 1000);
    let text = report::render_text(&s);
    assert!(
        text.len() <= 1000 * report::CHARS_PER_TOKEN,
        "{}",
        text.len()
    );
    assert!(text.starts_with("FAILED t0"), "{text}");
    assert!(
        text.ends_with(
            "failed: 25 passed, 25 failed, 0 skipped, 0 errored (cargo) in 1.0s — run r"
        )
    );
    assert!(s.omitted_failures > 0 && s.failures.len() + s.omitted_failures == 25);
    let big = report::summarize(&outcome, 1_000_000);
    assert_eq!(big.failures.len(), 25);
    assert_eq!(big.omitted_failures, 0);
}
