//! Resources: the static list, the URI templates and `resources/read`.
//!
//! Pattern for a capability: add its fixed resources to [`list`], its templates to
//! [`templates`], and a branch to [`read`] that calls a `read_*` function in its tools file.
//! Reads return JSON (`application/json`) unless the resource is text by nature.

use rmcp::ErrorData as McpError;
use rmcp::model::{ReadResourceResult, Resource, ResourceTemplate};

use super::reply::{internal, json, not_found};
use super::state::AppState;
use apex_store::runs;

/// Resources with a fixed URI.
pub fn list(state: &AppState) -> Vec<Resource> {
    let mut all = vec![
        Resource::new("apex://index/status", "index-status")
            .with_description("Codebase index statistics: files, symbols, languages, last update")
            .with_mime_type("application/json"),
    ];
    all.extend(super::tools::context::list_resources(state));
    all.extend(super::tools::synth::resources());
    all.extend(super::tools::data::dataset_resources(state));
    all
}

/// URI templates clients can fill in.
pub fn templates() -> Vec<ResourceTemplate> {
    vec![
        ResourceTemplate::new("apex://contexts/{name}", "context")
            .with_description(
                "A context bundle, its items re-checked against the code (subscribable)",
            )
            .with_mime_type("text/markdown"),
        super::tools::data::dataset_template(),
        ResourceTemplate::new("apex://runs/{id}", "run")
            .with_description("A run (agent, test, generation, index): status, parameters, result")
            .with_mime_type("application/json"),
        ResourceTemplate::new("apex://runs/{id}/events", "run-events")
            .with_description("The full stored event log of a run, in order")
            .with_mime_type("application/json"),
        ResourceTemplate::new("apex://files/{+path}", "file")
            .with_description("A text file of the workspace, by path relative to the root"),
        ResourceTemplate::new("apex://test-runs/{id}", "test-run")
            .with_description("A test run with every result, its commit and flaky tests")
            .with_mime_type("application/json"),
    ]
    .into_iter()
    .chain(super::tools::synth::templates())
    .chain(super::tools::agents::report_templates())
    .collect()
}

/// Read one resource by URI.
pub async fn read(state: &AppState, uri: &str) -> Result<ReadResourceResult, McpError> {
    if uri == crate::uris::LIST_URI {
        return super::tools::context::read_list(state);
    }
    if let Some(name) = uri.strip_prefix("apex://contexts/") {
        return super::tools::context::read_bundle(state, uri, name);
    }
    if let Some(name) = uri.strip_prefix("apex://datasets/") {
        return super::tools::data::read_dataset(state, uri, name).await;
    }
    if let Some(rest) = uri.strip_prefix("apex://runs/") {
        return read_run(state, uri, rest);
    }
    if uri == "apex://index/status" {
        return super::tools::search::read_index_status(state, uri);
    }
    if let Some(r) = super::tools::synth::read(state, uri) {
        return r;
    }
    if let Some(path) = uri.strip_prefix("apex://files/") {
        return super::tools::search::read_file(state, uri, path);
    }
    if let Some(id) = uri.strip_prefix("apex://test-runs/") {
        return super::tools::testrun::read_test_run(state, uri, id);
    }
    Err(not_found(uri))
}

fn read_run(state: &AppState, uri: &str, rest: &str) -> Result<ReadResourceResult, McpError> {
    if let Some((id, part)) = rest.split_once('/')
        && part != "events"
    {
        return super::tools::agents::read_run_report(state, uri, id, part);
    }
    let (id, events) = match rest.strip_suffix("/events") {
        Some(id) => (id, true),
        None => (rest, false),
    };
    // A task id names its run.
    let id = &super::tasks::run_id_of(state, id);
    let run = runs::get_run(&state.store, id)
        .map_err(internal)?
        .ok_or_else(|| not_found(uri))?;
    if events {
        let evs = runs::events(&state.store, id, 0).map_err(internal)?;
        json(uri, &evs)
    } else {
        json(uri, &run)
    }
}
