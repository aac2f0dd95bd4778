//! Workload datasets as day-partitioned Parquet under `<data-dir>/datasets/`, and the
//! columnar engine (DataFusion) that answers every question asked of them.
//!
//! Writes go through [`write::DatasetWrite`] (atomic: a part counts only once committed in
//! the catalog, one writer per dataset at a time); reads through [`engine::Engine`] over a
//! [`snapshot::Snapshot`] of checked parts. The catalog itself (names, counts, spend, the
//! committed part range) is a table of the SQLite store. [`migrate`] converts datasets of the
//! old SQLite layout. It parses no log format and computes no figure of a report.

pub mod engine;
pub mod external;
pub mod layout;
pub mod lock;
pub mod migrate;
mod objects;
pub mod read;
pub mod schema;
pub mod snapshot;
pub mod write;

use std::path::PathBuf;

use apex_store::{Store, StoreError};

pub use engine::{Engine, QueryError, QueryLimits, QueryResult};
pub use write::{DatasetWrite, WhenBusy, WriteMode};

/// Why a dataset could not be written or read.
#[derive(Debug, thiserror::Error)]
pub enum DatasetError {
    #[error(
        "dataset: `{0}` is being written by another ingest or generation right now; wait for it to finish (or cancel it), or write to another dataset name"
    )]
    Busy(String),
    #[error("dataset: {0}")]
    Invalid(String),
    #[error("cannot write or read dataset files: {0}")]
    Io(String),
    #[error("query engine: {0}")]
    Query(String),
    /// A query needed more memory than the engine's budget (`engine::MEMORY_LIMIT`); the
    /// engine's joins are planned to spill from then on (`Engine::spill_joins`), so the
    /// query can be run again.
    #[error("query engine: {0}")]
    OverBudget(String),
    #[error("the query was cancelled")]
    Cancelled,
    #[error(transparent)]
    Store(#[from] StoreError),
}

pub type Result<T, E = DatasetError> = std::result::Result<T, E>;

/// The datasets directory of a store's data dir (`<data-dir>/datasets`).
pub fn root_of(store: &Store) -> PathBuf {
    store
        .path()
        .parent()
        .map(|p| p.join("datasets"))
        .unwrap_or_else(|| PathBuf::from("datasets"))
}

/// Clean up after writers that were killed: staging directories of dead processes. Their
/// parts were never visible. Returns how many were removed.
pub fn recover(store: &Store) -> usize {
    layout::remove_abandoned_staging(&root_of(store))
}

#[cfg(test)]
mod tests;
