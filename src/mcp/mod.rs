//! The MCP face: the server, one tools file per capability, resources and prompts.
