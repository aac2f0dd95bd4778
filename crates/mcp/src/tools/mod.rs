//! Tool faces, one file per capability. Each file holds
//! `#[tool_router(router = <cap>_router, vis = "pub(crate)")] impl ApexServer { .. }` and is
//! added to the sum in [`super::server::ApexServer::tools`].
//!
//! A handler parses and validates its arguments, calls one library function and renders the
//! result with [`ok`]; every failure a user can fix is [`fail`] (an `isError` result whose
//! text names the field, what was wrong and what is accepted), never a JSON-RPC error.

pub mod agents;
pub mod context;
pub mod data;
pub mod runs;
pub mod search;
pub mod synth;
pub mod testrun;

pub use crate::reply::{bad_field, fail, ok};

use rmcp::handler::server::common::FromContextPart;
use rmcp::handler::server::tool::ToolCallContext;
use serde::de::DeserializeOwned;

/// Tool arguments, deserialized so that a bad value names its field:
/// "invalid argument `limit`: invalid type: string \"x\", expected u32".
///
/// Use it in place of rmcp's wrapper of the same name (the `#[tool]` macro finds the input
/// schema by this name). rmcp turns the error into an `isError` result.
#[derive(Debug, Clone)]
pub struct Parameters<P>(pub P);

impl<S, P> FromContextPart<ToolCallContext<'_, S>> for Parameters<P>
where
    P: DeserializeOwned,
{
    fn from_context_part(context: &mut ToolCallContext<S>) -> Result<Self, rmcp::ErrorData> {
        parse_arguments(context.arguments.take()).map(Parameters)
    }
}

/// Deserialize a tools/call's `arguments` into `P`, naming the field of a bad value. The one
/// code path of every tool's arguments (public for the fuzz targets under `fuzz/`).
pub fn parse_arguments<P: DeserializeOwned>(
    arguments: Option<rmcp::model::JsonObject>,
) -> Result<P, rmcp::ErrorData> {
    let value = serde_json::Value::Object(arguments.unwrap_or_default());
    serde_path_to_error::deserialize::<_, P>(value).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        // The prefix is what rmcp looks for to answer with isError, not a protocol error.
        let message = if path == "." {
            format!("failed to deserialize parameters: {inner}")
        } else {
            format!("failed to deserialize parameters: invalid argument `{path}`: {inner}")
        };
        rmcp::ErrorData::invalid_params(message, None)
    })
}

/// The tools that take arguments, by name (`list_agents` takes none).
pub const TOOLS_WITH_ARGUMENTS: &[&str] = &[
    "cancel_run",
    "search_code",
    "find_symbol",
    "find_references",
    "read_code",
    "outline",
    "index_status",
    "reindex",
    "context_save",
    "context_get",
    "context_list",
    "context_delete",
    "generate_synthetic_data",
    "list_workload_profiles",
    "ingest_logs",
    "list_datasets",
    "describe_dataset",
    "query_data",
    "run_agent",
    "get_agent_run",
    "run_tests",
    "get_test_run",
    "list_test_runs",
];

/// Parse `arguments` for the tool `name` exactly as a tools/call does, into its arguments
/// type. `None` for a name not in [`TOOLS_WITH_ARGUMENTS`].
pub fn parse_tool_arguments(
    name: &str,
    arguments: Option<rmcp::model::JsonObject>,
) -> Option<Result<(), rmcp::ErrorData>> {
    fn p<P: DeserializeOwned>(a: Option<rmcp::model::JsonObject>) -> Result<(), rmcp::ErrorData> {
        parse_arguments::<P>(a).map(|_| ())
    }
    let a = arguments;
    Some(match name {
        "cancel_run" => p::<runs::CancelRunArgs>(a),
        "search_code" => p::<apex_search::SearchRequest>(a),
        "find_symbol" => p::<apex_search::FindSymbolRequest>(a),
        "find_references" => p::<apex_search::ReferenceRequest>(a),
        "read_code" => p::<apex_search::ReadRequest>(a),
        "outline" => p::<search::OutlineArgs>(a),
        "index_status" => p::<search::IndexStatusArgs>(a),
        "reindex" => p::<apex_search::ReindexArgs>(a),
        "context_save" => p::<context::ContextSaveArgs>(a),
        "context_get" => p::<context::ContextGetArgs>(a),
        "context_list" => p::<context::ContextListArgs>(a),
        "context_delete" => p::<context::ContextDeleteArgs>(a),
        "generate_synthetic_data" => p::<apex_synth::GenerateRequest>(a),
        "list_workload_profiles" => p::<synth::ListProfilesArgs>(a),
        "ingest_logs" => p::<apex_agents::requests::IngestLogsArgs>(a),
        "list_datasets" => p::<data::ListDatasetsArgs>(a),
        "describe_dataset" => p::<data::DescribeDatasetArgs>(a),
        "query_data" => p::<data::QueryDataArgs>(a),
        "run_agent" => p::<apex_agents::requests::RunAgentArgs>(a),
        "get_agent_run" => p::<agents::GetAgentRunArgs>(a),
        "run_tests" => p::<apex_testrun::TestRequest>(a),
        "get_test_run" => p::<testrun::GetTestRunArgs>(a),
        "list_test_runs" => p::<testrun::ListTestRunsArgs>(a),
        _ => return None,
    })
}

impl<P: schemars::JsonSchema> schemars::JsonSchema for Parameters<P> {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        P::schema_name()
    }
    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        P::json_schema(generator)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_tool_with_arguments_is_parsed_by_name() {
        let served: Vec<String> = crate::ApexServer::tools()
            .list_all()
            .into_iter()
            .map(|t| t.name.to_string())
            .filter(|n| n != "list_agents")
            .collect();
        let mut known: Vec<String> = TOOLS_WITH_ARGUMENTS.iter().map(|s| s.to_string()).collect();
        let mut served_sorted = served.clone();
        served_sorted.sort();
        known.sort();
        assert_eq!(served_sorted, known);
        for name in TOOLS_WITH_ARGUMENTS {
            assert!(parse_tool_arguments(name, None).is_some(), "{name}");
        }
        let bad = serde_json::json!({"query": 5}).as_object().cloned();
        let e = parse_tool_arguments("search_code", bad)
            .unwrap()
            .unwrap_err();
        assert!(
            e.message.contains("invalid argument `query`"),
            "{}",
            e.message
        );
    }
}
