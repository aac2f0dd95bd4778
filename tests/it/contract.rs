//! The public contract as a client sees it: `tools/list`, `prompts/list` and the resource
//! templates, snapshotted in `tests/snapshots/`. A change to a tool's name, description or
//! schema fails here until the snapshot is updated on purpose:
//! `UPDATE_SNAPSHOTS=1 cargo test --test contract`.

use std::path::PathBuf;

use crate::common::*;
use serde_json::{Value, json};

fn snapshot_path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/snapshots")
        .join(name)
}

/// Compare `actual` with the stored snapshot, or write it when `UPDATE_SNAPSHOTS` is set.
fn assert_snapshot(name: &str, actual: &Value) {
    let path = snapshot_path(name);
    let rendered = serde_json::to_string_pretty(actual).unwrap() + "\n";
    if std::env::var_os("UPDATE_SNAPSHOTS").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, &rendered).unwrap();
        return;
    }
    let stored = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e}; create it with UPDATE_SNAPSHOTS=1 cargo test --test contract",
            path.display()
        )
    });
    if stored != rendered {
        let diff = similar::TextDiff::from_lines(&stored, &rendered)
            .unified_diff()
            .context_radius(3)
            .header("stored", "served")
            .to_string();
        panic!(
            "the served contract differs from {} (update on purpose with UPDATE_SNAPSHOTS=1):\n{diff}",
            path.display()
        );
    }
}

#[tokio::test]
async fn tools_prompts_and_templates_match_their_snapshots() {
    let ws = Workspace::new();
    let client = stdio_client(ws.path(), Generation::Handshake).await;

    let mut tools: Vec<Value> = client
        .list_all_tools()
        .await
        .expect("tools/list")
        .into_iter()
        .map(|t| serde_json::to_value(t).unwrap())
        .collect();
    tools.sort_by(|a, b| a["name"].as_str().cmp(&b["name"].as_str()));
    assert!(tools.len() >= 20, "only {} tools served", tools.len());
    assert_snapshot("tools_list.json", &json!(tools));

    let mut prompts: Vec<Value> = client
        .list_all_prompts()
        .await
        .expect("prompts/list")
        .into_iter()
        .map(|p| serde_json::to_value(p).unwrap())
        .collect();
    prompts.sort_by(|a, b| a["name"].as_str().cmp(&b["name"].as_str()));
    assert_snapshot("prompts_list.json", &json!(prompts));

    let mut templates: Vec<Value> = client
        .list_all_resource_templates()
        .await
        .expect("resources/templates/list")
        .into_iter()
        .map(|t| serde_json::to_value(t).unwrap())
        .collect();
    templates.sort_by(|a, b| a["uriTemplate"].as_str().cmp(&b["uriTemplate"].as_str()));
    assert_snapshot("resource_templates.json", &json!(templates));

    client.cancel().await.unwrap();
}
