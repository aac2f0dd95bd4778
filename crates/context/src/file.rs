//! The bundle file format: one bundle version as pretty JSON with a stable key order, meant
//! to be committed to git and imported on another machine.
//!
//! The file carries no export time, so exporting the same version twice gives the same
//! bytes. It does not touch the store: `context::export`/`import` do.

use std::path::{Component, Path};

use serde::{Deserialize, Serialize};

use super::{ContextError, SavedItem, StoredBundle};

/// The value of the file's `format` key.
pub const FORMAT: &str = "netra-apex/context";
/// The newest file format version this binary writes and reads.
pub const FORMAT_VERSION: u32 = 1;

/// A bundle file. Keys are written in this order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContextFile {
    pub format: String,
    pub format_version: u32,
    pub name: String,
    /// The version that was exported (import makes a new version of its own).
    pub version: u32,
    pub saved_at: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub tags: Vec<String>,
    #[serde(default)]
    pub notes: String,
    #[serde(default)]
    pub items: Vec<SavedItem>,
}

impl ContextFile {
    pub fn from_bundle(b: StoredBundle) -> Self {
        Self {
            format: FORMAT.to_string(),
            format_version: FORMAT_VERSION,
            name: b.name,
            version: b.version,
            saved_at: b.created_at,
            description: b.description,
            tags: b.tags,
            notes: b.notes,
            items: b.items,
        }
    }
}

fn bad(field: &str, message: impl Into<String>) -> ContextError {
    ContextError::Invalid {
        field: format!("file.{field}"),
        message: message.into(),
    }
}

/// Pretty JSON, two-space indent, ending with a newline.
pub fn to_string(f: &ContextFile) -> Result<String, ContextError> {
    let mut s = serde_json::to_string_pretty(f).map_err(|e| bad("", e.to_string()))?;
    s.push('\n');
    Ok(s)
}

/// Parse and check a bundle file: its format, version and every item's place.
pub fn parse(json: &str) -> Result<ContextFile, ContextError> {
    let value: serde_json::Value =
        serde_json::from_str(json).map_err(|e| bad("", format!("not valid JSON: {e}")))?;
    match value.get("format").and_then(|v| v.as_str()) {
        Some(FORMAT) => {}
        other => {
            return Err(bad(
                "format",
                format!(
                    "is {}; a bundle file has \"format\": \"{FORMAT}\" (made by `netra-apex context export`)",
                    other
                        .map(|o| format!("\"{o}\""))
                        .unwrap_or_else(|| "absent".into())
                ),
            ));
        }
    }
    match value.get("format_version").and_then(|v| v.as_u64()) {
        Some(v) if v >= 1 && v <= FORMAT_VERSION as u64 => {}
        Some(v) => {
            return Err(bad(
                "format_version",
                format!(
                    "{v} is not known to this netra-apex (it reads 1 to {FORMAT_VERSION}); upgrade netra-apex"
                ),
            ));
        }
        None => return Err(bad("format_version", "is missing or not a number")),
    }
    let f: ContextFile = serde_json::from_value(value)
        .map_err(|e| bad("", format!("does not match the bundle format: {e}")))?;
    for (i, item) in f.items.iter().enumerate() {
        check_item(i, item)?;
    }
    Ok(f)
}

fn check_item(i: usize, item: &SavedItem) -> Result<(), ContextError> {
    let path = Path::new(&item.path);
    let relative_inside = !item.path.is_empty()
        && path
            .components()
            .all(|c| matches!(c, Component::Normal(_) | Component::CurDir));
    if !relative_inside {
        return Err(bad(
            &format!("items[{i}].path"),
            format!(
                "`{}` is not accepted: item paths are relative to the workspace root and may not climb out of it",
                item.path
            ),
        ));
    }
    if item.start_line == 0 || item.end_line < item.start_line {
        return Err(bad(
            &format!("items[{i}].start_line"),
            format!(
                "lines {}-{} are not a range; lines are numbered from 1 and end_line >= start_line",
                item.start_line, item.end_line
            ),
        ));
    }
    let hex = item.hash.strip_prefix("xxh3:").unwrap_or("");
    if hex.len() != 16 || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(bad(
            &format!("items[{i}].hash"),
            format!(
                "`{}` is not a content hash (`xxh3:` and 16 hex digits)",
                item.hash
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> ContextFile {
        ContextFile {
            format: FORMAT.into(),
            format_version: 1,
            name: "auth".into(),
            version: 3,
            saved_at: "2026-11-28T00:00:00.000Z".into(),
            description: "d".into(),
            tags: vec!["t".into()],
            notes: "n".into(),
            items: vec![SavedItem {
                path: "src/a.rs".into(),
                start_line: 1,
                end_line: 2,
                symbol: None,
                note: None,
                hash: super::super::content_hash("x"),
                text: "x".into(),
            }],
        }
    }

    #[test]
    fn keys_come_in_a_stable_order_and_round_trip() {
        let s = to_string(&sample()).unwrap();
        let keys: Vec<usize> = [
            "\"format\"",
            "\"format_version\"",
            "\"name\"",
            "\"version\"",
            "\"saved_at\"",
            "\"description\"",
            "\"tags\"",
            "\"notes\"",
            "\"items\"",
        ]
        .iter()
        .map(|k| s.find(k).unwrap())
        .collect();
        assert!(keys.windows(2).all(|w| w[0] < w[1]), "{s}");
        assert!(s.ends_with("}\n"));
        assert_eq!(parse(&s).unwrap(), sample());
    }

    #[test]
    fn refuses_other_formats_newer_versions_and_escaping_paths() {
        let mut v: serde_json::Value = serde_json::to_value(sample()).unwrap();
        v["format"] = "something-else".into();
        assert!(
            parse(&v.to_string())
                .unwrap_err()
                .to_string()
                .contains("file.format")
        );
        let mut v: serde_json::Value = serde_json::to_value(sample()).unwrap();
        v["format_version"] = 9.into();
        assert!(
            parse(&v.to_string())
                .unwrap_err()
                .to_string()
                .contains("upgrade")
        );
        for bad_path in ["../etc/passwd", "/etc/passwd", "a/../../b"] {
            let mut v: serde_json::Value = serde_json::to_value(sample()).unwrap();
            v["items"][0]["path"] = bad_path.into();
            let err = parse(&v.to_string()).unwrap_err().to_string();
            assert!(err.contains("items[0].path"), "{bad_path}: {err}");
        }
        assert!(
            parse("{")
                .unwrap_err()
                .to_string()
                .contains("not valid JSON")
        );
    }
}
