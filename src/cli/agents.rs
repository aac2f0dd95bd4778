//! `netra-apex agent list|run`: the CLI twins of `list_agents` and `run_agent`.

use apex_agents::requests::RunAgentArgs;
use apex_agents::{self as agents, narrator::DeterministicNarrator};
use apex_core::pricing::PriceCatalog;
use apex_core::run::RunKind;

use super::{Place, runs};

#[derive(clap::Subcommand)]
pub enum AgentCommand {
    /// Run an agent and print its markdown report (or its JSON with --json).
    Run {
        #[command(flatten)]
        args: RunAgentArgs,
        /// Print the report's JSON instead of its markdown.
        #[arg(long)]
        json: bool,
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
        AgentCommand::Run { args, json } => {
            let opened = runs::open(at.root, at.data_dir)?;
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
                    agents::run_agent(
                        &store,
                        PriceCatalog::builtin(),
                        &req,
                        &DeterministicNarrator,
                        sink,
                        cancel,
                    )
                },
            )?;
            let report = outcome?;
            if json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                println!("{}", agents::report::markdown(&report));
            }
            eprintln!("run {run_id}");
            Ok(())
        }
    }
}
