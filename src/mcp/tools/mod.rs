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

use rmcp::handler::server::common::FromContextPart;
use rmcp::handler::server::tool::ToolCallContext;
use rmcp::model::{CallToolResult, ContentBlock};
use serde::Serialize;
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
        let arguments = context.arguments.take().unwrap_or_default();
        let value = serde_json::Value::Object(arguments);
        serde_path_to_error::deserialize::<_, P>(value)
            .map(Parameters)
            .map_err(|e| {
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
}

impl<P: schemars::JsonSchema> schemars::JsonSchema for Parameters<P> {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        P::schema_name()
    }
    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        P::json_schema(generator)
    }
}

/// A successful result: readable text plus the same data as `structuredContent`.
pub fn ok(text: impl Into<String>, structured: &impl Serialize) -> CallToolResult {
    let mut result = CallToolResult::success(vec![ContentBlock::text(text.into())]);
    result.structured_content = serde_json::to_value(structured).ok();
    result
}

/// A failed result the client's model can read and act on.
pub fn fail(message: impl std::fmt::Display) -> CallToolResult {
    CallToolResult::error(vec![ContentBlock::text(message.to_string())])
}

/// A failed result about one argument: "`field`: problem".
pub fn bad_field(field: &str, problem: impl std::fmt::Display) -> CallToolResult {
    fail(format!("invalid argument `{field}`: {problem}"))
}
