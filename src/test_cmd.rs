//! `netra-apex test`: the CLI twin of `run_tests`. Prints each test as it finishes on
//! stderr, then the budgeted summary (or JSON) on stdout; exits non-zero unless it passed.

use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use netra_apex::events::{EventSink, new_run_id};
use netra_apex::store::{Store, runs};
use netra_apex::testrun::{self, TestRequest, report};
use netra_apex::workspace::Workspace;
use serde_json::json;
use tokio_util::sync::CancellationToken;

pub struct TestArgs {
    pub req: TestRequest,
    pub max_tokens: usize,
    pub json: bool,
    pub log_page: Option<usize>,
    pub quiet: bool,
}

pub async fn run(root: &Path, data_dir: Option<&Path>, args: TestArgs) -> anyhow::Result<()> {
    let ws = Workspace::open(root, data_dir)?;
    let store = Arc::new(Store::open(&ws.db_path())?);
    let plan = testrun::prepare(&ws, &args.req)?;
    let run_id = new_run_id("test");
    let params = json!({"path": plan.rel_path, "framework": plan.label(),
        "filter": plan.filter, "suite": plan.suite, "timeout_s": plan.timeout.as_secs()});
    runs::create_run(&store, &run_id, "test", &params)?;
    let quiet = args.quiet;
    let log = runs::RunLog::new(store.clone(), &run_id).with_listener(move |e, total| {
        if quiet {
            return;
        }
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
    });
    let cancel = CancellationToken::new();
    let on_ctrl_c = cancel.clone();
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            on_ctrl_c.cancel();
        }
    });
    let sink: &dyn EventSink = &log;
    let outcome = testrun::execute(&ws, &store, &run_id, &plan, sink, &cancel).await;
    let (status, result) = match &outcome {
        Ok(o) => (
            o.run.status.as_str(),
            json!({"counts": o.run.counts, "flaky": o.flaky}),
        ),
        Err(e) => ("errored", json!({"error": e.to_string()})),
    };
    runs::finish_run(&store, &run_id, status, Some(&result))?;
    let outcome = outcome?;
    let summary = report::summarize(&outcome, args.max_tokens);
    if args.json {
        let mut v = serde_json::to_value(&summary)?;
        if let Some(p) = args.log_page {
            v["log"] = serde_json::to_value(testrun::read_log(&store, &run_id, p)?)?;
        }
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        println!("{}", report::render_text(&summary));
        if let Some(p) = args.log_page {
            let page = testrun::read_log(&store, &run_id, p)?;
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
