//! Every tool's argument parsing, through the extractor the server uses: the first byte
//! picks the tool, the rest is the JSON of `arguments`. Errors must carry the prefix that
//! makes rmcp answer with an isError result, and never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use apex_mcp::tools::{TOOLS_WITH_ARGUMENTS, parse_tool_arguments};

fuzz_target!(|data: &[u8]| {
    let Some((&pick, json)) = data.split_first() else {
        return;
    };
    let tool = TOOLS_WITH_ARGUMENTS[pick as usize % TOOLS_WITH_ARGUMENTS.len()];
    let Ok(serde_json::Value::Object(arguments)) = serde_json::from_slice(json) else {
        return;
    };
    match parse_tool_arguments(tool, Some(arguments)) {
        Some(Ok(())) => {}
        Some(Err(e)) => assert!(
            e.message.starts_with("failed to deserialize parameters"),
            "{tool}: {}",
            e.message
        ),
        None => panic!("{tool} is listed but not parsed"),
    }
});
