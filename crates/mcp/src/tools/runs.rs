//! Tools over runs of every kind: cancelling one that is in progress (a background test or
//! agent run survives its client; this is how it is stopped).

use rmcp::model::CallToolResult;
use rmcp::{ErrorData as McpError, tool, tool_router};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::json;

use super::{Parameters, bad_field, ok};
use crate::server::ApexServer;
use crate::tasks::{self, Cancelled};
use apex_store::runs;

/// Arguments of `cancel_run`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CancelRunArgs {
    /// The run to cancel, as returned by run_tests, run_agent, generate_synthetic_data or reindex (or the task id of a run started as a task).
    pub run_id: String,
}

#[tool_router(router = runs_router, vis = "pub(crate)")]
impl ApexServer {
    /// Cancel a run in progress (a test run, agent run, generation or indexing).
    #[tool(
        description = "Cancel a run in progress (tests, agent, generation, indexing) by run_id. The run is recorded as cancelled; test runs kill their whole process group."
    )]
    async fn cancel_run(
        &self,
        Parameters(args): Parameters<CancelRunArgs>,
    ) -> Result<CallToolResult, McpError> {
        let kind = |run_id: &str| {
            runs::get_run(&self.state.store, run_id)
                .ok()
                .flatten()
                .map(|r| r.kind)
                .unwrap_or_default()
        };
        match tasks::cancel(&self.state, &args.run_id)? {
            Cancelled::Stopping { run_id } => {
                let kind = kind(&run_id);
                Ok(ok(
                    format!("Cancelling run {run_id} ({kind})."),
                    &json!({"run_id": run_id, "kind": kind, "status": "cancelling"}),
                ))
            }
            Cancelled::NotRunning { run_id, status } => Ok(ok(
                format!("Run {run_id} is not in progress: it is {status}."),
                &json!({"run_id": run_id, "kind": kind(&run_id), "status": status}),
            )),
            Cancelled::Unknown => {
                let recent: Vec<String> = runs::list_runs(&self.state.store, None, 5)
                    .unwrap_or_default()
                    .into_iter()
                    .map(|r| r.id)
                    .collect();
                Ok(bad_field(
                    "run_id",
                    format!(
                        "no run `{}`; recent runs: {}",
                        args.run_id,
                        recent.join(", ")
                    ),
                ))
            }
        }
    }
}
