//! Codebase search: walk the workspace, extract symbols, keep a tantivy index fresh, answer
//! queries within a token budget.
//!
//! It owns `<data-dir>/index/` and nothing else on disk; it never imports the MCP face or
//! the CLI, and reports long work through [`crate::events::EventSink`].

pub mod symbols;
