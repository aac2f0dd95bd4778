//! The integration tests, one binary: each module below is one capability or concern
//! (what was one file under `tests/` each); `common` starts the real binary and connects a
//! real rmcp client. One binary links the dependency graph once instead of once per file,
//! which was most of the suite's build time. Run one module with
//! `cargo test --test it agents::` (or any part of a test's path).

mod common;

mod agents;
mod architecture;
mod context;
mod contract;
mod durability;
mod faults;
mod http_limits;
mod ingest;
mod report;
mod runs;
mod search;
mod server;
mod synth;
mod tasks;
mod testrun;
