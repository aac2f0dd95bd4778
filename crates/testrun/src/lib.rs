//! Test execution: find a workspace's test runner, run it with machine-readable output,
//! stream one `test_finished` event per test, and store the run with its git commit.
//!
//! It owns detection ([`detect`]), the command lines of each runner, the parsers of their
//! output ([`parse`]), process-group control ([`process`]) and the token budget of a result
//! ([`report`]). It never runs a command string a client sent: only detected runners and
//! suites declared in `apex.toml`. It knows nothing of MCP; the SQL lives in
//! [`apex_store::testruns`].

pub mod detect;
pub mod parse;
pub mod process;
pub mod report;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::json;
use tokio_util::sync::CancellationToken;

use apex_core::events::{EventSink, now_ts, truncate_chars};
use apex_core::workspace::{Workspace, WorkspaceError};
use apex_store::testruns::{self, RunEnd, TestRunRow};
use apex_store::{Store, StoreError};

pub use apex_store::testruns::{TestCounts, TestResult};
pub use detect::{Framework, Plan};
use parse::{Parsed, Stream};

/// Default seconds before a run is killed.
pub const DEFAULT_TIMEOUT_S: u64 = 600;
/// The longest timeout accepted.
pub const MAX_TIMEOUT_S: u64 = 86_400;
/// Captured output kept per test, in characters (the full console log is kept apart).
pub const MAX_TEST_OUTPUT: usize = 16_000;

/// Errors a caller can act on. Every message names the field or executable at fault.
#[derive(Debug, thiserror::Error)]
pub enum TestRunError {
    #[error("invalid argument `{field}`: {message}")]
    Invalid {
        field: &'static str,
        message: String,
    },
    #[error("invalid argument `path`: {0}")]
    Path(#[from] WorkspaceError),
    #[error(
        "no test framework found in `{path}` or its parents inside the root (looked for {looked_for}); name a suite from apex.toml or another path"
    )]
    NotDetected { path: String, looked_for: String },
    #[error("the test runner `{program}` is not installed or not on PATH: {hint}")]
    MissingRunner { program: String, hint: String },
    #[error(
        "invalid argument `suite`: no suite `{name}` in apex.toml [tests.suites]; declared suites: {known}"
    )]
    UnknownSuite { name: String, known: String },
    #[error("could not start `{program}`: {source}")]
    Spawn {
        program: String,
        source: std::io::Error,
    },
    #[error("test run store: {0}")]
    Store(#[from] StoreError),
    #[error("test run log: {0}")]
    Io(#[from] std::io::Error),
    #[error("no test run `{0}`; list_test_runs shows the known ids")]
    NoSuchRun(String),
}

pub type Result<T, E = TestRunError> = std::result::Result<T, E>;

/// What a caller asks for: the arguments of `run_tests` and of `netra-apex test`, written
/// once. Every field is optional; [`prepare`] validates them.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema, clap::Args)]
#[serde(deny_unknown_fields)]
pub struct TestRequest {
    /// Directory or file to test, relative to the workspace root (default: the root).
    pub path: Option<String>,
    /// auto (default), cargo, pytest, go, jest or vitest.
    #[arg(long)]
    pub framework: Option<String>,
    /// Test name or pattern, passed natively (cargo substring, pytest -k, go -run, jest/vitest -t).
    #[arg(long)]
    pub filter: Option<String>,
    /// Run a suite declared in apex.toml [tests.suites.NAME] instead of a detected runner.
    #[arg(long)]
    pub suite: Option<String>,
    /// Seconds before the run's whole process group is killed (default 600).
    #[arg(long = "timeout", value_name = "SECONDS")]
    pub timeout_s: Option<u64>,
    /// Answer at once with the run_id; follow with get_test_run or apex://test-runs/{id}.
    #[arg(skip)]
    pub background: Option<bool>,
    /// Rough token budget of the answer (default 4000): failures first, then counts.
    #[arg(long)]
    pub max_tokens: Option<usize>,
    /// Add one page of the full console log to the answer.
    #[arg(long, num_args = 0..=1, default_missing_value = "true", value_name = "BOOL")]
    pub include_log: Option<bool>,
    /// Which console log page to add (0-based, 400 lines each); implies include_log.
    #[arg(long, value_name = "N")]
    pub log_page: Option<usize>,
    /// Use cargo-nextest for cargo projects when installed (default yes, unless the
    /// environment variable `APEX_NEXTEST` is `0`).
    #[serde(skip)]
    #[schemars(skip)]
    #[arg(skip)]
    pub nextest: Option<bool>,
}

impl TestRequest {
    /// The page of the console log to show with the answer, if one was asked for.
    pub fn log_page_wanted(&self) -> Option<usize> {
        log_page_wanted(self.include_log, self.log_page)
    }
}

/// The console log page an answer shows: `log_page` if given, else page 0 with
/// `include_log`, else none.
pub fn log_page_wanted(include_log: Option<bool>, log_page: Option<usize>) -> Option<usize> {
    match (include_log, log_page) {
        (_, Some(p)) => Some(p),
        (Some(true), None) => Some(0),
        _ => None,
    }
}

/// A finished (or still running) run with its results.
#[derive(Debug, Clone, Serialize)]
pub struct TestRunOutcome {
    pub run: TestRunRow,
    pub results: Vec<TestResult>,
    /// Names of tests that both passed and failed on this commit (clean runs only).
    pub flaky: Vec<String>,
}

/// Validate a request and work out what to run, without running anything.
pub fn prepare(ws: &Workspace, req: &TestRequest) -> Result<Plan> {
    if let Some(f) = &req.filter {
        validate_filter(f)?;
    }
    if let Some(t) = req.timeout_s
        && !(1..=MAX_TIMEOUT_S).contains(&t)
    {
        return Err(TestRunError::Invalid {
            field: "timeout_s",
            message: format!("{t} is out of range; give 1 to {MAX_TIMEOUT_S} seconds"),
        });
    }
    detect::plan(ws, req)
}

/// A filter goes to the runner as one argument; it may not look like an option.
fn validate_filter(f: &str) -> Result<()> {
    let problem = if f.trim().is_empty() {
        Some("it is empty")
    } else if f.starts_with('-') {
        Some("it starts with `-`, which the runner would read as an option")
    } else if f.chars().any(char::is_control) {
        Some("it contains control characters")
    } else if f.len() > 500 {
        Some("it is longer than 500 bytes")
    } else {
        None
    };
    match problem {
        Some(p) => Err(TestRunError::Invalid {
            field: "filter",
            message: format!("{p}; give a test name or pattern such as `parser::` or `test_login`"),
        }),
        None => Ok(()),
    }
}

/// The git commit of the root and whether the tree has changes; `(None, None)` outside git.
pub fn git_state(root: &Path) -> (Option<String>, Option<bool>) {
    let git = |args: &[&str]| {
        std::process::Command::new("git")
            .arg("-C")
            .arg(root)
            .args(args)
            .stdin(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
    };
    let Some(head) = git(&["rev-parse", "HEAD"]) else {
        return (None, None);
    };
    let dirty = git(&["status", "--porcelain"]).map(|s| !s.trim().is_empty());
    (Some(head.trim().to_string()), dirty)
}

/// Where the full console log of a run is kept.
pub fn log_path(ws: &Workspace, run_id: &str) -> PathBuf {
    ws.data_dir()
        .join("test-runs")
        .join(format!("{run_id}.log"))
}

/// Register run `run_id` as `running` with its commit, command and log path, so that
/// `get_test_run` finds it at once (a background run is answered before it starts).
/// [`execute`] does this itself when the caller has not.
pub fn register(ws: &Workspace, store: &Store, run_id: &str, plan: &Plan) -> Result<()> {
    let (commit, dirty) = git_state(ws.root());
    let log = log_path(ws, run_id);
    if let Some(dir) = log.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let (_, args) = report_file_and_args(ws, run_id, plan);
    let mut command = vec![plan.program.clone()];
    command.extend(args);
    let row = TestRunRow {
        id: run_id.to_string(),
        path: plan.rel_path.clone(),
        framework: plan.label().to_string(),
        suite: plan.suite.clone(),
        filter: plan.filter.clone(),
        command,
        commit,
        dirty,
        status: "running".into(),
        exit_code: None,
        started_at: now_ts(),
        finished_at: None,
        duration_ms: None,
        counts: TestCounts::default(),
        log_path: Some(log.to_string_lossy().into_owned()),
        error: None,
    };
    testruns::insert_run(store, &row)?;
    Ok(())
}

/// Where the runner writes its report (if it does) and the arguments that name it.
fn report_file_and_args(
    ws: &Workspace,
    run_id: &str,
    plan: &Plan,
) -> (Option<PathBuf>, Vec<String>) {
    let report_file = plan.report_file_name.as_ref().map(|name| {
        ws.data_dir()
            .join("test-runs")
            .join(format!("{run_id}.{name}"))
    });
    let args = plan
        .args
        .iter()
        .map(|a| match &report_file {
            Some(f) => a.replace("${APEX_REPORT_FILE}", &f.to_string_lossy()),
            None => a.clone(),
        })
        .collect();
    (report_file, args)
}

/// Run a prepared plan as run `run_id`, reporting through `sink`. The caller has
/// registered `run_id` in the generic runs table (if it wants one); this registers the test
/// run, streams results into the store as they arrive and records how it ended.
/// Cancelling `cancel` kills the runner's whole process group and records `cancelled`.
pub async fn execute(
    ws: &Workspace,
    store: &Arc<Store>,
    run_id: &str,
    plan: &Plan,
    sink: &dyn EventSink,
    cancel: &CancellationToken,
) -> Result<TestRunOutcome> {
    let started = Instant::now();
    if testruns::get_run(store, run_id)?.is_none() {
        register(ws, store, run_id, plan)?;
    }
    let log = log_path(ws, run_id);
    let (report_file, args) = report_file_and_args(ws, run_id, plan);
    let mut parser = parse::parser_for(plan, report_file.clone());
    let mut collector = Collector::new(store, run_id, plan, sink);
    let mut env = plan.env.clone();
    if let Some(f) = &report_file {
        env.push(("APEX_REPORT_FILE".into(), f.to_string_lossy().into_owned()));
    }
    let exec = process::Exec {
        program: plan.program.clone(),
        args,
        cwd: plan.dir.clone(),
        env,
        timeout: plan.timeout,
        log_path: log.clone(),
    };
    let mut parsed = Vec::new();
    let ran = process::run(&exec, cancel, &mut |stream: Stream, line: &str| {
        parser.line(stream, line, &mut parsed);
        for p in parsed.drain(..) {
            collector.accept(p);
        }
    })
    .await;
    let ending = match ran {
        Ok(e) => e,
        Err(source) => {
            let msg = format!("could not start `{}`: {source}", plan.program);
            finish(
                store,
                run_id,
                "errored",
                None,
                started,
                TestCounts::default(),
                Some(&msg),
            )?;
            sink.emit(
                "suite_finished",
                json!({"status": "errored", "message": msg}),
            );
            return Err(TestRunError::Spawn {
                program: plan.program.clone(),
                source,
            });
        }
    };
    let mut parsed = Vec::new();
    parser.finish(&mut parsed);
    for p in parsed {
        collector.accept(p);
    }
    if let Some(f) = &report_file {
        let _ = std::fs::remove_file(f);
    }

    let counts = TestCounts::of(&collector.results);
    let (status, error) = match &ending.how {
        process::How::TimedOut => (
            "timed_out",
            Some(format!(
                "the runner did not finish within {} s and its process group was killed; last output:\n{}",
                plan.timeout.as_secs(),
                ending.tail
            )),
        ),
        process::How::Cancelled => (
            "cancelled",
            Some("cancelled; the runner's process group was killed".to_string()),
        ),
        process::How::Exited { code, signal } => {
            if counts.failed + counts.errored > 0 {
                ("failed", None)
            } else if *code == Some(0) {
                ("passed", None)
            } else {
                let how = match (code, signal) {
                    (Some(c), _) => format!("exited with code {c}"),
                    (None, Some(s)) => format!("was killed by signal {s}"),
                    (None, None) => "ended abnormally".to_string(),
                };
                (
                    "errored",
                    Some(format!(
                        "the runner {how} without reporting a failing test; last output:\n{}",
                        ending.tail
                    )),
                )
            }
        }
    };
    let code = match ending.how {
        process::How::Exited { code, .. } => code,
        _ => None,
    };
    finish(
        store,
        run_id,
        status,
        code,
        started,
        counts,
        error.as_deref(),
    )?;
    collector.ensure_started();
    sink.emit(
        "suite_finished",
        json!({
            "status": status,
            "passed": counts.passed,
            "failed": counts.failed,
            "skipped": counts.skipped,
            "errored": counts.errored,
            "duration_ms": started.elapsed().as_millis() as u64,
        }),
    );
    get_test_run(store, run_id)?.ok_or_else(|| TestRunError::NoSuchRun(run_id.to_string()))
}

fn finish(
    store: &Store,
    run_id: &str,
    status: &str,
    exit_code: Option<i32>,
    started: Instant,
    counts: TestCounts,
    error: Option<&str>,
) -> Result<()> {
    testruns::finish_run(
        store,
        run_id,
        &RunEnd {
            status,
            exit_code,
            finished_at: &now_ts(),
            duration_ms: started.elapsed().as_millis() as u64,
            counts,
            error,
        },
    )?;
    Ok(())
}

/// Keeps the results of a run in order, stores each as it arrives and emits its event.
struct Collector<'a> {
    store: &'a Store,
    run_id: &'a str,
    plan: &'a Plan,
    sink: &'a dyn EventSink,
    results: Vec<TestResult>,
    index: HashMap<(String, String), usize>,
    started: bool,
}

impl<'a> Collector<'a> {
    fn new(store: &'a Store, run_id: &'a str, plan: &'a Plan, sink: &'a dyn EventSink) -> Self {
        Self {
            store,
            run_id,
            plan,
            sink,
            results: Vec::new(),
            index: HashMap::new(),
            started: false,
        }
    }

    fn start(&mut self, total: Option<u64>) {
        if self.started {
            return;
        }
        self.started = true;
        if let Some(t) = total {
            self.sink.expect_total(t + 2);
        }
        let mut data = json!({
            "framework": self.plan.label(),
            "path": self.plan.rel_path,
            "total": total,
            "message": match total {
                Some(t) => format!("{} tests ({})", t, self.plan.label()),
                None => format!("running {}", self.plan.label()),
            },
        });
        if let Some(s) = &self.plan.suite {
            data["suite"] = json!(s);
        }
        if let Some(f) = &self.plan.filter {
            data["filter"] = json!(f);
        }
        self.sink.emit("suite_started", data);
    }

    fn ensure_started(&mut self) {
        self.start(None);
    }

    fn accept(&mut self, p: Parsed) {
        match p {
            Parsed::Count(n) => self.start(Some(n)),
            Parsed::Test(mut t) => {
                self.ensure_started();
                if let Some(o) = &t.output {
                    t.output = Some(tail_chars(o, MAX_TEST_OUTPUT));
                }
                if let Some(m) = &t.message {
                    t.message = Some(truncate_chars(m.trim(), 2000));
                }
                let key = (t.group.clone(), t.name.clone());
                let (seq, fresh) = match self.index.get(&key) {
                    Some(&i) => {
                        // A later report of the same test refines the first (teardown error,
                        // the final JSON report of a streamed run): keep what it lacks.
                        let old = &self.results[i];
                        if t.duration_ms.is_none() {
                            t.duration_ms = old.duration_ms;
                        }
                        if t.output.is_none() {
                            t.output = old.output.clone();
                        }
                        if t.file.is_none() {
                            t.file = old.file.clone();
                            t.line = old.line;
                        }
                        if old.status == "errored" && t.status != "errored" {
                            t.status = old.status.clone();
                        }
                        self.results[i] = t.clone();
                        (i, false)
                    }
                    None => {
                        self.results.push(t.clone());
                        self.index.insert(key, self.results.len() - 1);
                        (self.results.len() - 1, true)
                    }
                };
                if let Err(e) = testruns::put_result(self.store, self.run_id, seq, &t) {
                    tracing::warn!(run_id = self.run_id, error = %e, "could not store a test result");
                }
                if fresh {
                    // `message` is the progress line; the failure's own text is `failure`.
                    let mut data = json!({
                        "name": t.name,
                        "status": t.status,
                        "duration_ms": t.duration_ms,
                        "done": self.results.len(),
                        "message": format!("{} {}", t.status, t.name),
                    });
                    if !t.group.is_empty() {
                        data["group"] = json!(t.group);
                    }
                    if let Some(m) = &t.message {
                        data["failure"] = json!(truncate_chars(m, 300));
                    }
                    if let Some(f) = &t.file {
                        data["location"] = json!(location(f, t.line));
                    }
                    self.sink.emit("test_finished", data);
                }
            }
        }
    }
}

/// `file:line`, or the file alone.
pub fn location(file: &str, line: Option<u32>) -> String {
    match line {
        Some(l) => format!("{file}:{l}"),
        None => file.to_string(),
    }
}

/// The last `max` characters of `s`, marking the cut.
pub fn tail_chars(s: &str, max: usize) -> String {
    let count = s.chars().count();
    if count <= max {
        return s.to_string();
    }
    let skip = count - max;
    let start = s.char_indices().nth(skip).map(|(i, _)| i).unwrap_or(0);
    format!("…{}", &s[start..])
}

/// A stored run with its results and flaky tests.
pub fn get_test_run(store: &Store, run_id: &str) -> Result<Option<TestRunOutcome>> {
    let Some(mut run) = testruns::get_run(store, run_id)? else {
        return Ok(None);
    };
    let results = testruns::results(store, run_id)?;
    if run.status == "running" {
        // Counts so far; and a run whose server died is not running any more.
        run.counts = TestCounts::of(&results);
        if let Some(generic) = apex_store::runs::get_run(store, run_id)?
            && generic.status == "interrupted"
        {
            run.status = generic.status;
        }
    }
    let flaky = testruns::flaky(store, run_id)?
        .into_iter()
        .map(|(g, n)| if g.is_empty() { n } else { format!("{g} {n}") })
        .collect();
    Ok(Some(TestRunOutcome {
        run,
        results,
        flaky,
    }))
}

/// The newest runs, newest first, optionally only those of one directory.
pub fn list_test_runs(store: &Store, path: Option<&str>, limit: usize) -> Result<Vec<TestRunRow>> {
    Ok(testruns::list_runs(store, path, limit.clamp(1, 1000))?)
}

/// Lines per page of a console log.
pub const LOG_PAGE_LINES: usize = 400;

/// One page of a run's console log.
#[derive(Debug, Clone, Serialize)]
pub struct LogPage {
    pub run_id: String,
    /// 0-based page number.
    pub page: usize,
    pub pages: usize,
    pub total_lines: usize,
    pub text: String,
}

/// Page `page` (0-based, [`LOG_PAGE_LINES`] lines each) of a run's full console log.
pub fn read_log(store: &Store, run_id: &str, page: usize) -> Result<LogPage> {
    let run =
        testruns::get_run(store, run_id)?.ok_or_else(|| TestRunError::NoSuchRun(run_id.into()))?;
    let text = match &run.log_path {
        Some(p) => std::fs::read(p)
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default(),
        None => String::new(),
    };
    let lines: Vec<&str> = text.lines().collect();
    let pages = lines.len().div_ceil(LOG_PAGE_LINES).max(1);
    if page >= pages {
        return Err(TestRunError::Invalid {
            field: "log_page",
            message: format!(
                "page {page} does not exist; this log has pages 0 to {}",
                pages - 1
            ),
        });
    }
    let chunk = lines
        .iter()
        .skip(page * LOG_PAGE_LINES)
        .take(LOG_PAGE_LINES)
        .map(|l| truncate_chars(l, 2000))
        .collect::<Vec<_>>()
        .join("\n");
    Ok(LogPage {
        run_id: run_id.to_string(),
        page,
        pages,
        total_lines: lines.len(),
        text: chunk,
    })
}

/// Timeout of a plan: the request's, else the suite's, else the default.
pub(crate) fn timeout_for(req: &TestRequest, suite_timeout: Option<u64>) -> Duration {
    Duration::from_secs(req.timeout_s.or(suite_timeout).unwrap_or(DEFAULT_TIMEOUT_S))
}

/// A test run ends with the test status (passed, failed, timed_out, cancelled...).
impl apex_core::run::RunOutput for TestRunOutcome {
    fn run_status(&self) -> String {
        self.run.status.clone()
    }
    fn run_result(&self) -> serde_json::Value {
        serde_json::json!({"counts": self.run.counts, "status": self.run.status, "flaky": self.flaky})
    }
}

impl apex_core::run::RunFailure for TestRunError {
    fn is_cancelled(&self) -> bool {
        false
    }
    fn failed_status(&self) -> &'static str {
        "errored"
    }
}

#[cfg(test)]
mod tests;
