//! Netra Apex: a local MCP server over one workspace.
//!
//! The capability libraries (`search`, `context`, `synth`, `testrun`, `agents`) take plain
//! Rust arguments and report through [`events::EventSink`]; `mcp` and the CLI in `main.rs`
//! are two thin faces over them. See ARCHITECTURE.md for the code map and invariants.

pub mod agents;
pub mod context;
pub mod events;
pub mod mcp;
pub mod search;
pub mod store;
pub mod synth;
pub mod testrun;
pub mod workload;
pub mod workspace;
