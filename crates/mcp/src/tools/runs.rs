//! Tools over runs of every kind: cancelling one that is in progress (a background test or
//! agent run survives its client; this is how it is stopped).

use rmcp::model::CallToolResult;
use rmcp::{ErrorData as McpError, tool, tool_router};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::json;

use super::{Parameters, bad_field, ok};
use crate::server::ApexServer;
use apex_store::runs;

/// Arguments of `cancel_run`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CancelRunArgs {
    /// The run to cancel, as returned by run_tests, run_agent, generate_synthetic_data or reindex.
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
        let run = runs::get_run(&self.state.store, &args.run_id)
            .map_err(|e| McpError::internal_error(e.to_string(), None))?;
        let Some(run) = run else {
            let recent: Vec<String> = runs::list_runs(&self.state.store, None, 5)
                .unwrap_or_default()
                .into_iter()
                .map(|r| r.id)
                .collect();
            return Ok(bad_field(
                "run_id",
                format!(
                    "no run `{}`; recent runs: {}",
                    args.run_id,
                    recent.join(", ")
                ),
            ));
        };
        if self.state.runs.cancel(&args.run_id) {
            return Ok(ok(
                format!("Cancelling run {} ({}).", run.id, run.kind),
                &json!({"run_id": run.id, "kind": run.kind, "status": "cancelling"}),
            ));
        }
        Ok(ok(
            format!("Run {} is not in progress: it is {}.", run.id, run.status),
            &json!({"run_id": run.id, "kind": run.kind, "status": run.status}),
        ))
    }
}
