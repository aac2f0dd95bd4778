//! The token budget of a test run's answer: failures first, each with a bounded message
//! and the tail of its output, then the counts. The full console log stays on disk and is
//! served a page at a time by [`super::read_log`].

use serde::Serialize;

use super::{TestCounts, TestRunOutcome, location, tail_chars};
use apex_core::events::truncate_chars;

/// Tokens a result may use when the caller names no budget.
pub const DEFAULT_MAX_TOKENS: usize = 4000;
/// Characters per token, the usual rough measure.
pub const CHARS_PER_TOKEN: usize = 4;

/// One failing (or errored) test as a client sees it.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Failure {
    pub name: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub group: String,
    pub status: String,
    pub message: String,
    /// The tail of the test's captured output, cut to fit the budget.
    pub output: String,
    /// `file:line` where the runner gave it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
}

/// A test run, cut to a token budget.
#[derive(Debug, Clone, Serialize)]
pub struct RunSummary {
    pub run_id: String,
    pub status: String,
    pub path: String,
    pub framework: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub suite: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub filter: Option<String>,
    pub counts: TestCounts,
    pub duration_ms: Option<u64>,
    pub commit: Option<String>,
    pub dirty: Option<bool>,
    pub failures: Vec<Failure>,
    /// Failures left out to keep within the budget.
    pub omitted_failures: usize,
    pub flaky: Vec<String>,
    /// Why the run errored, timed out or was cancelled.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub command: Vec<String>,
}

/// Cut `outcome` to about `max_tokens` tokens.
pub fn summarize(outcome: &TestRunOutcome, max_tokens: usize) -> RunSummary {
    let run = &outcome.run;
    let mut budget = max_tokens.max(100) * CHARS_PER_TOKEN;
    let error = run
        .error
        .as_ref()
        .map(|e| tail_chars(e, (budget / 4).max(200)));
    budget = budget.saturating_sub(400 + error.as_ref().map_or(0, |e| e.len()));
    let failing: Vec<_> = outcome
        .results
        .iter()
        .filter(|r| r.status == "failed" || r.status == "errored")
        .collect();
    let mut failures = Vec::new();
    for (i, r) in failing.iter().enumerate() {
        let message = truncate_chars(r.message.as_deref().unwrap_or(""), 600);
        let fixed = r.name.len() + r.group.len() + message.len() + 80;
        if fixed > budget {
            break;
        }
        budget -= fixed;
        let left = failing.len() - i;
        let share = (budget / left).min(4000);
        let output = match r.output.as_deref() {
            Some(o) if share >= 80 => tail_chars(o.trim_end(), share),
            _ => String::new(),
        };
        budget = budget.saturating_sub(output.len());
        failures.push(Failure {
            name: r.name.clone(),
            group: r.group.clone(),
            status: r.status.clone(),
            message,
            output,
            location: r.file.as_deref().map(|f| location(f, r.line)),
        });
    }
    RunSummary {
        run_id: run.id.clone(),
        status: run.status.clone(),
        path: run.path.clone(),
        framework: run.framework.clone(),
        suite: run.suite.clone(),
        filter: run.filter.clone(),
        counts: run.counts,
        duration_ms: run.duration_ms,
        commit: run.commit.clone(),
        dirty: run.dirty,
        omitted_failures: failing.len() - failures.len(),
        failures,
        flaky: outcome.flaky.clone(),
        error,
        command: run.command.clone(),
    }
}

/// The readable text of a summary: failures first, then the counts line.
pub fn render_text(s: &RunSummary) -> String {
    let mut out = String::new();
    for f in &s.failures {
        let label = if f.group.is_empty() {
            f.name.clone()
        } else {
            format!("{} ({})", f.name, f.group)
        };
        out.push_str(&format!("{} {label}", f.status.to_uppercase()));
        if let Some(l) = &f.location {
            out.push_str(&format!(" at {l}"));
        }
        out.push('\n');
        if !f.message.is_empty() {
            out.push_str(&format!("  {}\n", f.message.replace('\n', "\n  ")));
        }
        if !f.output.is_empty() {
            out.push_str(&format!(
                "  output:\n    {}\n",
                f.output.replace('\n', "\n    ")
            ));
        }
    }
    if s.omitted_failures > 0 {
        out.push_str(&format!(
            "… {} more failures left out to fit max_tokens; get_test_run has them all\n",
            s.omitted_failures
        ));
    }
    if let Some(e) = &s.error {
        out.push_str(&format!("{e}\n"));
    }
    let c = &s.counts;
    out.push_str(&format!(
        "{}: {} passed, {} failed, {} skipped, {} errored ({}{}) in {:.1}s — run {}",
        s.status,
        c.passed,
        c.failed,
        c.skipped,
        c.errored,
        s.framework,
        s.suite
            .as_deref()
            .map(|n| format!(" suite {n}"))
            .unwrap_or_default(),
        s.duration_ms.unwrap_or(0) as f64 / 1000.0,
        s.run_id
    ));
    if !s.flaky.is_empty() {
        out.push_str(&format!("\nflaky on this commit: {}", s.flaky.join(", ")));
    }
    out
}
