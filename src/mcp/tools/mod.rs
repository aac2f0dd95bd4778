//! Tool faces, one file per capability. Each file holds
//! `#[tool_router(router = <cap>_router, vis = "pub(crate)")] impl ApexServer { .. }` and is
//! added to the sum in [`super::server::ApexServer::tools`].
//!
//! A handler parses and validates its arguments, calls one library function and renders the
//! result with [`ok`]; every failure a user can fix is [`fail`] (an `isError` result whose
//! text names the field, what was wrong and what is accepted), never a JSON-RPC error.

use rmcp::model::{CallToolResult, ContentBlock};
use serde::Serialize;

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
