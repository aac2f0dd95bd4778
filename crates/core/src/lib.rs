//! The core every capability stands on: the workspace and its path safety, the event
//! vocabulary and the run driver that every long operation goes through, the workload
//! record schema and the model price catalog.
//!
//! This crate knows nothing of SQLite, MCP or any capability: the store plugs into the run
//! driver through [`run::RunJournal`], and the faces through [`run::RunObserver`].

pub mod buffers;
pub mod columns;
pub mod events;
pub mod files;
pub mod memory;
pub mod pricing;
pub mod run;
pub mod threads;
pub mod time;
pub mod workload;
pub mod workspace;
