//! `netra-apex synth`: the CLI twin of `generate_synthetic_data`.

use std::sync::Arc;

use apex_core::events::Event;
use apex_core::run::{RunKind, RunObserver};

use super::{Place, runs};

#[derive(clap::Args)]
pub struct SynthArgs {
    #[command(flatten)]
    request: apex_synth::GenerateRequest,
    /// Print the full result (summary and quality report) as JSON on stdout.
    #[arg(long)]
    json: bool,
    /// List the profiles and exit.
    #[arg(long)]
    list: bool,
}

/// `netra-apex synth`: generate, as a recorded `generation` run, with a progress bar on
/// stderr.
pub fn run(
    at: &Place<'_>,
    runtime: &tokio::runtime::Runtime,
    args: SynthArgs,
) -> anyhow::Result<()> {
    use apex_synth as synth;
    if args.list {
        for p in synth::list_profiles()? {
            println!(
                "{:<18} {:>8} records over {:>3} days, {:<11} noise {:<5} {}",
                p.name,
                p.volume.records,
                p.volume.days,
                p.arrival.distribution,
                p.arrival.noise,
                p.description
            );
        }
        return Ok(());
    }
    let req = args.request;
    synth::Format::parse(req.format_name())?;
    synth::resolve_profile(&req)?;
    let opened = runs::open(at.root, at.data_dir)?;
    let bar = indicatif::ProgressBar::new(0);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{spinner} [{bar:30}] {pos}/{len} records {msg}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    let params = serde_json::to_value(&req)?;
    let (ws, store) = (opened.ws.clone(), opened.store.clone());
    let (run_id, out) = opened.run(
        runtime,
        RunKind::Generation,
        params,
        Some(Arc::new(Bar(bar.clone()))),
        move |sink, cancel| synth::generate(&ws, Some(&store), &req, sink, cancel),
    )?;
    bar.finish_and_clear();
    let out = out?;
    let parts = out.summary["output"]["parts"]
        .as_u64()
        .map(|n| format!(" (a directory of {n} part files)"))
        .unwrap_or_default();
    eprintln!(
        "{} records of {} (seed {}) -> {}{parts} in {:.2} s: {:.0} records/s; quality {}",
        out.records,
        out.profile,
        out.seed,
        out.dataset
            .as_deref()
            .or(out.path.as_deref())
            .unwrap_or("?"),
        out.elapsed_ms as f64 / 1000.0,
        out.records_per_sec,
        if out.quality["passed"] == true {
            "passed"
        } else {
            "NOT passed"
        }
    );
    eprintln!("run {run_id}");
    if args.json {
        println!("{}", serde_json::to_string_pretty(&out)?);
    }
    Ok(())
}

/// Shows generation events as a progress bar.
struct Bar(indicatif::ProgressBar);

impl RunObserver for Bar {
    fn event(&self, event: &Event, _total: Option<u64>) {
        let data = &event.data;
        if let Some(total) = data.get("total").and_then(|t| t.as_u64()) {
            self.0.set_length(total);
        }
        if let Some(done) = data.get("done").and_then(|t| t.as_u64()) {
            self.0.set_position(done);
        }
        if let Some(rate) = data.get("records_per_sec").and_then(|t| t.as_f64()) {
            self.0.set_message(format!("{rate:.0}/s"));
        }
    }
}
