//! `netra-apex test`: the CLI twin of `run_tests`, recorded as a test run. Prints each test
//! as it finishes on stderr, then the budgeted summary (or JSON) on stdout; exits non-zero
//! unless it passed.

use std::sync::Arc;

use anyhow::Context;
use apex_core::events::{Event, EventSink};
use apex_core::run::{RunKind, RunObserver};
use apex_testrun::{self as testrun, TestRequest, report};
use serde_json::json;
use tokio_util::sync::CancellationToken;

use super::{Place, runs};

#[derive(clap::Args)]
pub struct TestArgs {
    #[command(flatten)]
    request: TestRequest,
    /// Print the summary as JSON.
    #[arg(long)]
    json: bool,
    /// Do not print each test as it finishes.
    #[arg(long, short)]
    quiet: bool,
}

/// Prints each finished test as `[3/10]  passed name`, other events as their short message.
struct TestLines;

impl RunObserver for TestLines {
    fn event(&self, e: &Event, total: Option<u64>) {
        let status = e.data.get("status").and_then(|s| s.as_str()).unwrap_or("");
        match e.event.as_str() {
            "test_finished" => {
                let name = e.data.get("name").and_then(|s| s.as_str()).unwrap_or("");
                let of = total
                    .map(|t| format!("/{}", t.saturating_sub(2)))
                    .unwrap_or_default();
                eprintln!("[{}{of}] {status:>7} {name}", e.seq.saturating_sub(1));
            }
            _ => eprintln!("{}", e.short_message()),
        }
    }
}

pub async fn run(at: &Place<'_>, args: TestArgs) -> anyhow::Result<()> {
    let opened = runs::open(at.root, at.data_dir)?;
    let req = args.request;
    let max_tokens = req.max_tokens.unwrap_or(report::DEFAULT_MAX_TOKENS);
    let log_page = req.log_page_wanted();
    let plan = testrun::prepare(&opened.ws, &req)?;
    let params = json!({"path": plan.rel_path, "framework": plan.label(),
        "filter": plan.filter, "suite": plan.suite, "timeout_s": plan.timeout.as_secs()});
    let observer: Option<Arc<dyn RunObserver>> = if args.quiet {
        None
    } else {
        Some(Arc::new(TestLines))
    };
    let run = opened.runs.begin(RunKind::Test, params, observer)?;
    let run_id = run.id().to_string();
    run.relay_cancel(runs::ctrl_c());
    let (ws, store) = (&opened.ws, &opened.store);
    let outcome = run
        .drive(
            |sink: Arc<dyn EventSink>, cancel: CancellationToken| async move {
                testrun::execute(ws, store, &run_id, &plan, sink.as_ref(), &cancel).await
            },
        )
        .await?;
    let run_id = outcome.run.id.clone();
    let summary = report::summarize(&outcome, max_tokens);
    if args.json {
        let mut v = serde_json::to_value(&summary)?;
        if let Some(p) = log_page {
            v["log"] = serde_json::to_value(testrun::read_log(store, &run_id, p)?)?;
        }
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        println!("{}", report::render_text(&summary));
        if let Some(p) = log_page {
            let page = testrun::read_log(store, &run_id, p)?;
            println!(
                "\nconsole log, page {} of {}:\n{}",
                page.page, page.pages, page.text
            );
        }
    }
    if summary.status == "passed" {
        Ok(())
    } else {
        Err(anyhow::anyhow!("test run {run_id} {}", summary.status)).context("tests did not pass")
    }
}
