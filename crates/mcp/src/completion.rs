//! `completion/complete`: suggestions for prompt arguments and resource-template variables.
//! Paths complete against the workspace (one directory level at a time); a capability adds
//! a branch for its own names (bundles, profiles, datasets).

use rmcp::model::{ArgumentInfo, Reference};

use super::state::AppState;

/// At most this many suggestions, as the spec allows.
const MAX: usize = 100;

/// Suggestions for `arg` of the prompt or template `reference`, best first.
pub fn complete(state: &AppState, reference: &Reference, arg: &ArgumentInfo) -> Vec<String> {
    let mut values = match (reference, arg.name.as_str()) {
        (_, "path") => complete_path(state, &arg.value),
        (Reference::Prompt(p), "name") if p.name == "use_context" => {
            super::tools::context::complete_names(state, &arg.value)
        }
        (Reference::Resource(r), "name") if r.uri.starts_with("apex://contexts/") => {
            super::tools::context::complete_names(state, &arg.value)
        }
        (Reference::Resource(r), "name") if r.uri.starts_with("apex://runs/{id}/charts/") => {
            apex_agents::charts::ChartKind::ALL
                .iter()
                .map(|k| k.name().to_string())
                .filter(|n| n.starts_with(arg.value.as_str()))
                .collect()
        }
        (Reference::Resource(r), "id") if r.uri.starts_with("apex://runs/{id}/") => {
            // The report resources belong to agent runs: the newest first.
            apex_store::runs::list_runs(&state.store, Some("agent"), MAX)
                .unwrap_or_default()
                .into_iter()
                .map(|r| r.id)
                .filter(|id| id.starts_with(arg.value.as_str()))
                .collect()
        }
        _ => Vec::new(),
    };
    values.truncate(MAX);
    values
}

/// Entries of the directory named by `prefix` (relative to the root) whose names start with
/// its last component. Directories end with `/`. Hidden entries and the data dir are skipped.
fn complete_path(state: &AppState, prefix: &str) -> Vec<String> {
    let (dir, stem) = match prefix.rfind('/') {
        Some(i) => (&prefix[..=i], &prefix[i + 1..]),
        None => ("", prefix),
    };
    let base = if dir.is_empty() {
        Ok(state.workspace.root().to_path_buf())
    } else {
        state.workspace.resolve(dir)
    };
    let Ok(base) = base else { return Vec::new() };
    let Ok(entries) = std::fs::read_dir(&base) else {
        return Vec::new();
    };
    let mut out: Vec<String> = entries
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') || !name.starts_with(stem) {
                return None;
            }
            let is_dir = e.file_type().map(|t| t.is_dir()).unwrap_or(false);
            Some(format!("{dir}{name}{}", if is_dir { "/" } else { "" }))
        })
        .collect();
    out.sort();
    out
}
