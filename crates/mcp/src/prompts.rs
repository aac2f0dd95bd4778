//! Prompts that do not belong to one capability. Capability prompts live in their tools file
//! as `#[prompt_router(router = "<cap>_prompts", vis = "pub(crate)")]` (a string, unlike tool_router) and are added in
//! [`super::server::ApexServer::prompts`].

use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::{PromptMessage, Role};
use rmcp::{ErrorData as McpError, prompt, prompt_router};
use schemars::JsonSchema;
use serde::Deserialize;

use super::server::ApexServer;

/// Arguments of `explain_code`.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct ExplainCodeArgs {
    /// File to explain, relative to the workspace root.
    pub path: String,
    /// First line to include (1-based); default the start of the file.
    pub start_line: Option<String>,
    /// Last line to include; default 200 lines after start_line.
    pub end_line: Option<String>,
}

#[prompt_router(router = "core_prompts", vis = "pub(crate)")]
impl ApexServer {
    /// Explain a piece of the workspace's code, with the code itself in the conversation.
    #[prompt(
        name = "explain_code",
        description = "Explain a file or a line range of the workspace, with the code quoted."
    )]
    async fn explain_code(
        &self,
        Parameters(args): Parameters<ExplainCodeArgs>,
    ) -> Result<Vec<PromptMessage>, McpError> {
        let path = self
            .state
            .workspace
            .resolve(&args.path)
            .map_err(|e| McpError::invalid_params(e.to_string(), None))?;
        let text = std::fs::read(&path)
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .map_err(|e| {
                McpError::invalid_params(format!("cannot read `{}`: {e}", args.path), None)
            })?;
        let parse = |field: &str, v: &Option<String>| -> Result<Option<usize>, McpError> {
            v.as_deref()
                .map(|s| {
                    s.trim().parse::<usize>().map_err(|_| {
                        McpError::invalid_params(
                            format!("`{field}` must be a positive line number, got `{s}`"),
                            None,
                        )
                    })
                })
                .transpose()
        };
        let start = parse("start_line", &args.start_line)?.unwrap_or(1).max(1);
        let end = parse("end_line", &args.end_line)?.unwrap_or(start + 199);
        let numbered: String = text
            .lines()
            .enumerate()
            .skip(start - 1)
            .take(end.saturating_sub(start) + 1)
            .map(|(i, l)| format!("{:>5}  {l}\n", i + 1))
            .collect();
        let rel = self.state.workspace.relative(&path);
        Ok(vec![PromptMessage::new_text(
            Role::User,
            format!(
                "Explain what this code in `{rel}` (lines {start}-{end}) does, how it fits into \
                 the codebase, and anything surprising about it. Use the search tools \
                 (find_symbol, find_references) to follow what it calls.\n\n```\n{numbered}```"
            ),
        )])
    }
}
