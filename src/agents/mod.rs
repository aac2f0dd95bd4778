//! Analysis agents. Only the price catalog lives here so far; the agents engineer owns the rest.

pub mod pricing;
