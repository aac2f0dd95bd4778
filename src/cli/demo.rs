//! `netra-apex demo`: a scripted MCP session. It starts `netra-apex serve` over stdio as a
//! real MCP client (rmcp's), lists the tools, calls each capability this build has, and shows
//! what happened, with progress bars on stderr fed by `notifications/progress`.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use anyhow::Context;
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use rmcp::model::{CallToolRequestParams, ProgressNotificationParam};
use rmcp::service::NotificationContext;
use rmcp::transport::TokioChildProcess;
use rmcp::{ClientHandler, RoleClient, ServiceExt};
use serde_json::{Value, json};

/// The client side of the demo: draws one progress bar per progress token.
#[derive(Clone, Default)]
struct DemoClient {
    bars: Arc<Mutex<HashMap<String, ProgressBar>>>,
    multi: MultiProgress,
}

impl DemoClient {
    fn finish_all(&self) {
        if let Ok(mut bars) = self.bars.lock() {
            for (_, bar) in bars.drain() {
                bar.finish();
            }
        }
    }
}

impl ClientHandler for DemoClient {
    async fn on_progress(
        &self,
        params: ProgressNotificationParam,
        _context: NotificationContext<RoleClient>,
    ) {
        let key = format!("{:?}", params.progress_token);
        let Ok(mut bars) = self.bars.lock() else {
            return;
        };
        let bar = bars.entry(key).or_insert_with(|| {
            let bar = self.multi.add(ProgressBar::new(0));
            bar.set_style(
                ProgressStyle::with_template("  {spinner} [{bar:30}] {pos}/{len} {wide_msg}")
                    .unwrap_or_else(|_| ProgressStyle::default_bar())
                    .progress_chars("=> "),
            );
            bar
        });
        if let Some(total) = params.total {
            bar.set_length(total as u64);
        }
        bar.set_position(params.progress as u64);
        if let Some(m) = params.message {
            bar.set_message(m);
        }
    }
}

/// One step of the script: call `tool` with `args` if this build has it.
struct Step {
    title: &'static str,
    tool: &'static str,
    args: Value,
    /// Run the step only when this path exists under the workspace root.
    requires: Option<&'static str>,
}

fn script() -> Vec<Step> {
    vec![
        Step {
            title: "Index the workspace (incremental; progress per batch of files)",
            tool: "reindex",
            args: json!({}),
            requires: None,
        },
        Step {
            title: "Where is the event sink defined and used?",
            tool: "search_code",
            args: json!({"query": "EventSink", "limit": 5, "max_tokens": 800}),
            requires: None,
        },
        Step {
            title: "Find a symbol by (fuzzy) name",
            tool: "find_symbol",
            args: json!({"name": "Workspace", "limit": 5}),
            requires: None,
        },
        Step {
            title: "Save a context bundle another client can subscribe to",
            tool: "context_save",
            args: json!({"name": "demo-tour", "description": "Where to start reading",
                         "items": [{"path": "README.md", "start_line": 1, "end_line": 10, "note": "start here"}],
                         "tags": ["demo"]}),
            requires: None,
        },
        Step {
            title: "Read it back with freshness status",
            tool: "context_get",
            args: json!({"name": "demo-tour", "max_tokens": 600}),
            requires: None,
        },
        Step {
            title: "Generate 200,000 synthetic e-commerce LLM calls into SQLite",
            tool: "generate_synthetic_data",
            args: json!({"profile": "ecommerce", "count": 200000, "seed": 42, "format": "sqlite", "dataset": "demo_ecommerce"}),
            requires: None,
        },
        Step {
            title: "Run the cost-optimization agents over it",
            tool: "run_agent",
            args: json!({"agent": "supervisor", "dataset": "demo_ecommerce",
                         "request": "Where can we cut our LLM spend without hurting quality?"}),
            requires: None,
        },
        Step {
            title: "Run a project's tests with per-test progress (a fixture with known failures)",
            tool: "run_tests",
            args: json!({"path": "tests/fixtures/testrun/cargo", "max_tokens": 600}),
            requires: Some("tests/fixtures/testrun/cargo/Cargo.toml"),
        },
    ]
}

/// Run the demo against `root`.
pub async fn run(root: &Path, data_dir: Option<&Path>) -> anyhow::Result<()> {
    let exe = std::env::current_exe().context("cannot find the netra-apex executable")?;
    let mut cmd = tokio::process::Command::new(exe);
    cmd.arg("serve").arg("--root").arg(root);
    if let Some(d) = data_dir {
        cmd.arg("--data-dir").arg(d);
    }
    cmd.env("RUST_LOG", "warn");
    let started = Instant::now();
    let client = DemoClient::default();
    let transport = TokioChildProcess::new(cmd).context("cannot start `netra-apex serve`")?;
    let service = client.clone().serve(transport).await?;
    let info = service.peer_info();
    println!(
        "Connected to {} over stdio in {} ms (protocol {}).",
        info.as_ref()
            .and_then(|i| i.server_info.as_ref())
            .map(|s| format!("{} {}", s.name, s.version))
            .unwrap_or_else(|| "netra-apex".into()),
        started.elapsed().as_millis(),
        info.as_ref()
            .map(|i| i.protocol_version.to_string())
            .unwrap_or_default(),
    );

    let tools = service.list_all_tools().await?;
    println!("\n{} tools:", tools.len());
    for t in &tools {
        let desc = t.description.as_deref().unwrap_or("");
        println!("  {:<24} {}", t.name, first_sentence(desc));
    }
    let have: Vec<&str> = tools.iter().map(|t| t.name.as_ref()).collect();

    for step in script() {
        if !have.contains(&step.tool) || step.requires.is_some_and(|p| !root.join(p).exists()) {
            continue;
        }
        println!("\n== {}\n   -> {} {}", step.title, step.tool, step.args);
        let args = step.args.as_object().cloned().unwrap_or_default();
        let t0 = Instant::now();
        let result = service
            .call_tool(CallToolRequestParams::new(step.tool).with_arguments(args))
            .await;
        client.finish_all();
        match result {
            Ok(r) => {
                let text: String = r
                    .content
                    .iter()
                    .filter_map(|c| c.as_text().map(|t| t.text.clone()))
                    .collect::<Vec<_>>()
                    .join("\n");
                let mark = if r.is_error == Some(true) {
                    "error"
                } else {
                    "ok"
                };
                println!("   <- {mark} in {} ms", t0.elapsed().as_millis());
                for line in text.lines().take(18) {
                    println!("   | {line}");
                }
                if text.lines().count() > 18 {
                    println!("   | …");
                }
            }
            Err(e) => println!("   <- protocol error: {e}"),
        }
    }
    service.cancel().await?;
    println!(
        "\nDone. Wire it into Claude Desktop with claude_desktop_config.example.json (see README)."
    );
    Ok(())
}

fn first_sentence(s: &str) -> &str {
    let end = s.find(". ").map(|i| i + 1).unwrap_or(s.len());
    &s[..end.min(90)]
}
