//! `netra-apex agent list|run`: the CLI twins of `list_agents` and `run_agent`. With
//! `--out DIR`, `agent run` writes the report as `report.md`, `report.html` and
//! `charts/<name>.svg` — the same bytes the run's `apex://runs/{id}/...` resources serve.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::Context;
use apex_agents::report::StoredReport;
use apex_agents::requests::RunAgentArgs;
use apex_agents::{self as agents, narrator::DeterministicNarrator};
use apex_core::run::RunKind;

use super::{Place, PricesArg, runs};

#[derive(clap::Subcommand)]
pub enum AgentCommand {
    /// Run an agent and print its markdown report (or its JSON with --json).
    Run {
        #[command(flatten)]
        args: RunAgentArgs,
        /// Print the report's JSON instead of its markdown.
        #[arg(long)]
        json: bool,
        /// Write report.md, report.html and charts/*.svg into DIR (inside the workspace or
        /// the data dir; created if missing) and print their paths.
        #[arg(long, value_name = "DIR")]
        out: Option<String>,
        #[command(flatten)]
        prices: PricesArg,
    },
    /// List the agents and their inputs.
    List,
}

pub fn run(
    at: &Place<'_>,
    runtime: &tokio::runtime::Runtime,
    command: AgentCommand,
) -> anyhow::Result<()> {
    match command {
        AgentCommand::List => {
            for a in agents::list_agents() {
                println!("{:<13} {}", a.name, a.description);
            }
            Ok(())
        }
        AgentCommand::Run {
            args,
            json,
            out,
            prices,
        } => {
            let catalog = prices.load()?;
            let opened = runs::open(at.root, at.data_dir)?;
            let out = out
                .map(|dir| {
                    opened
                        .ws
                        .resolve_output(&dir)
                        .with_context(|| format!("--out {dir}"))
                })
                .transpose()?;
            let req = args.to_request()?;
            agents::pipeline::validate(&opened.store, &req)?;
            let params = req.params();
            let store = opened.store.clone();
            let (run_id, outcome) = opened.run(
                runtime,
                RunKind::Agent,
                params,
                Some(runs::print_events()),
                move |sink, cancel| {
                    agents::run_agent(&store, &catalog, &req, &DeterministicNarrator, sink, cancel)
                },
            )?;
            let report = outcome?;
            if let Some(dir) = out {
                for path in write_report(&dir, &report)? {
                    println!("{}", path.display());
                }
            } else if json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                println!("{}", agents::report::markdown(&report));
            }
            eprintln!("run {run_id}");
            Ok(())
        }
    }
}

/// Write the report into `dir` as the run stores it: `report.md`, `report.html` and each
/// chart as `charts/<name>.svg` (the paths the markdown links). Answers the paths written.
fn write_report(dir: &Path, report: &agents::Report) -> anyhow::Result<Vec<PathBuf>> {
    let stored = StoredReport::from_run_result(&agents::pipeline::run_result(report))?
        .context("the finished run holds no report")?;
    let mut files = vec![
        (dir.join("report.md"), stored.markdown.clone()),
        (dir.join("report.html"), stored.html()?),
    ];
    for kind in stored.charts.available() {
        files.push((dir.join(kind.path()), stored.charts.svg(kind)?));
    }
    for (path, body) in &files {
        replace_file(path, body.as_bytes())
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(files.into_iter().map(|(p, _)| p).collect())
}

/// Replace `path` with `bytes` whole: a temp file beside it, synced, then renamed over it,
/// so a reader never sees half a report. The one place `--out` writes a file.
fn replace_file(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    let temp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let written = std::fs::File::create(&temp).and_then(|mut f| {
        f.write_all(bytes)?;
        f.sync_all()
    });
    match written.and_then(|()| std::fs::rename(&temp, path)) {
        Ok(()) => Ok(()),
        Err(e) => {
            let _ = std::fs::remove_file(&temp);
            Err(e)
        }
    }
}
