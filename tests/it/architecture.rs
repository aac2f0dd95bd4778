//! The crate graph is the architecture (ARCHITECTURE.md draws it). Cargo already refuses an
//! undeclared dependency and a cycle; this test refuses a declared one that points the
//! wrong way: a capability importing the MCP face or the binary, a capability importing
//! another one (except the edges listed here), a lower layer importing a higher one.

use std::collections::BTreeMap;
use std::process::Command;

use serde_json::Value;

/// Each workspace crate's layer. A crate may depend on crates of lower layers, and on crates
/// of its own layer only through an edge in [`SAME_LAYER`]. A new crate must be placed here
/// (and in ARCHITECTURE.md) before the test passes.
const LAYERS: &[(&str, u8)] = &[
    ("apex-core", 0),
    ("apex-testkit", 0),
    ("apex-store", 1),
    ("apex-datasets", 1),
    ("apex-ingest", 1),
    ("apex-search", 2),
    ("apex-context", 2),
    ("apex-synth", 2),
    ("apex-testrun", 2),
    ("apex-agents", 2),
    ("apex-mcp", 3),
    ("netra-apex", 4),
];

/// Edges allowed within one layer: context bundles anchor to search's symbols; the data
/// layer's dataset files are registered in the store's catalog.
const SAME_LAYER: &[(&str, &str)] = &[
    ("apex-context", "apex-search"),
    ("apex-datasets", "apex-store"),
];

fn layer(name: &str) -> u8 {
    LAYERS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, l)| *l)
        .unwrap_or_else(|| {
            panic!("workspace crate `{name}` has no layer: add it to LAYERS in tests/architecture.rs and to ARCHITECTURE.md")
        })
}

/// Workspace crates and, for each, its dependencies on other workspace crates with their
/// kind (`normal`, `dev`, `build`).
fn workspace_graph() -> BTreeMap<String, Vec<(String, String)>> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .args([
            "metadata",
            "--format-version",
            "1",
            "--no-deps",
            "--offline",
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("run cargo metadata");
    assert!(
        out.status.success(),
        "cargo metadata failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let meta: Value = serde_json::from_slice(&out.stdout).expect("cargo metadata JSON");
    let packages = meta["packages"].as_array().expect("packages");
    let names: Vec<&str> = packages.iter().filter_map(|p| p["name"].as_str()).collect();
    packages
        .iter()
        .map(|p| {
            let deps = p["dependencies"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|d| {
                    let name = d["name"].as_str()?;
                    names.contains(&name).then(|| {
                        let kind = d["kind"].as_str().unwrap_or("normal").to_string();
                        (name.to_string(), kind)
                    })
                })
                .collect();
            (p["name"].as_str().unwrap_or_default().to_string(), deps)
        })
        .collect()
}

#[test]
fn every_dependency_points_down_the_layers() {
    let graph = workspace_graph();
    assert!(
        graph.contains_key("apex-core") && graph.contains_key("apex-mcp"),
        "{:?}",
        graph.keys()
    );
    let mut wrong = Vec::new();
    for (krate, deps) in &graph {
        let from = layer(krate);
        for (dep, kind) in deps {
            let to = layer(dep);
            let sideways_ok = to == from
                && (SAME_LAYER.contains(&(krate.as_str(), dep.as_str())) || kind == "dev");
            // Tests may use a sibling (agents' tests generate data with synth), never the face.
            let ok = to < from || sideways_ok;
            let face = dep == "apex-mcp" || dep == "netra-apex";
            if !ok || (face && krate != "netra-apex") {
                wrong.push(format!(
                    "{krate} (layer {from}) -> {dep} (layer {to}, {kind})"
                ));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "dependencies that point the wrong way:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn no_capability_depends_on_the_face_even_for_tests() {
    let graph = workspace_graph();
    for (krate, deps) in &graph {
        if krate == "netra-apex" || krate == "apex-mcp" {
            continue;
        }
        for (dep, kind) in deps {
            assert!(
                dep != "apex-mcp" && dep != "netra-apex",
                "{krate} depends on {dep} ({kind})"
            );
        }
    }
}
