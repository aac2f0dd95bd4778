//! How the face answers: tool results (readable text plus the same data as
//! `structuredContent`, or an `isError` result that names what was wrong) and resource bodies.
//! A leaf module: tools and resources both use it, it uses neither.

use rmcp::ErrorData as McpError;
use rmcp::model::{CallToolResult, ContentBlock, ReadResourceResult, ResourceContents};
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

/// A JSON resource body.
pub fn json(uri: &str, value: &impl Serialize) -> Result<ReadResourceResult, McpError> {
    let text = serde_json::to_string_pretty(value).map_err(internal)?;
    Ok(ReadResourceResult::new(vec![
        ResourceContents::text(text, uri).with_mime_type("application/json"),
    ]))
}

/// A plain-text or markdown resource body.
pub fn text(uri: &str, body: String, mime: &str) -> ReadResourceResult {
    ReadResourceResult::new(vec![ResourceContents::text(body, uri).with_mime_type(mime)])
}

pub fn not_found(uri: &str) -> McpError {
    McpError::resource_not_found(
        format!(
            "no resource at `{uri}`; resources/list and resources/templates/list show what exists"
        ),
        None,
    )
}

pub fn internal(e: impl std::fmt::Display) -> McpError {
    McpError::internal_error(e.to_string(), None)
}

/// A CLI error and its causes joined by ": ", each said once: a cause whose text the message
/// already holds (a wrapper that quotes its source) is left out.
pub fn said_once(e: &anyhow::Error) -> String {
    let mut out = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if out.contains(&text) {
            continue;
        }
        if !out.is_empty() {
            out.push_str(": ");
        }
        out.push_str(&text);
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_cause_quoted_by_its_wrapper_is_said_once() {
        let inner = std::io::Error::other("No space left on device (os error 28)");
        let e = anyhow::Error::new(inner)
            .context("cannot write out.json: No space left on device (os error 28)");
        assert_eq!(
            super::said_once(&e),
            "cannot write out.json: No space left on device (os error 28)"
        );
        let e = anyhow::anyhow!("root cause").context("while saving");
        assert_eq!(super::said_once(&e), "while saving: root cause");
    }
}
