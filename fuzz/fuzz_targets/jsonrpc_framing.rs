//! The stdio framing: arbitrary bytes on stdin go through the same filter `serve` uses.
//! Lines that pass must be JSON, each followed by a newline; rejected lines become JSON-RPC
//! errors with `id: null`; and rmcp's message parser must take whatever passes without
//! panicking.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rmcp::model::ClientJsonRpcMessage;
use serde_json::Value;

fuzz_target!(|data: &[u8]| {
    // A small line limit so that the oversized path is exercised too.
    let max_line = 256;
    let (passed, errors) =
        apex_mcp::stdio::filter_bytes(data, max_line).expect("a runtime");
    assert!(passed.is_empty() || passed.ends_with(b"\n"));
    for line in passed.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
        assert!(line.len() <= max_line + 1, "an oversized line passed");
        assert!(!line.ends_with(b"\r"));
        // It is JSON (the filter passes what parses), and rmcp may refuse it but not panic.
        let _ = serde_json::from_slice::<ClientJsonRpcMessage>(line);
    }
    for e in errors {
        let v: Value = serde_json::from_str(&e).expect("error replies are JSON");
        assert_eq!(v["id"], Value::Null);
        let code = v["error"]["code"].as_i64().expect("a code");
        assert!(code == -32700 || code == -32600, "{e}");
    }
});
