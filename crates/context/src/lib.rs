//! Context bundles: named, versioned sets of code locations and notes, anchored to the code.
//!
//! Owns what a bundle is (name, description, tags, notes, items), saving a new version
//! (capturing each item's text and hash, redacting secrets), reading any version back with
//! every item re-resolved (`fresh`/`moved`/`stale`/`missing`) within a token budget, and
//! the JSON file format for export and import. It does not own SQL (see `store::contexts`),
//! symbol parsing (the search module) or how a face announces changes to subscribers.

use serde::{Deserialize, Serialize};

use apex_store::{Store, StoreError, contexts as rows};

pub mod anchor;
pub mod file;
pub mod redact;
mod render;
pub mod symbols;

pub use anchor::{Anchors, content_hash};
pub use file::{ContextFile, FORMAT, FORMAT_VERSION};
pub use redact::Redaction;
use redact::RedactionLog;
pub use symbols::{SymbolDef, SymbolIndex};

/// Longest accepted bundle name.
pub const MAX_NAME_LEN: usize = 64;
const MAX_ITEMS: usize = 200;
const MAX_TAGS: usize = 20;
const MAX_TAG_LEN: usize = 40;
const MAX_DESCRIPTION_CHARS: usize = 2_000;
const MAX_NOTES_BYTES: usize = 256 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum ContextError {
    #[error("{field}: {message}")]
    Invalid { field: String, message: String },
    #[error("no context bundle named `{name}`{}", suggest(.suggestions))]
    NotFound {
        name: String,
        suggestions: Vec<String>,
    },
    #[error(
        "version: context bundle `{name}` has no version {version}; versions 1 to {latest} exist"
    )]
    NoVersion {
        name: String,
        version: u32,
        latest: u32,
    },
    #[error("{0}")]
    Store(#[from] StoreError),
}

fn suggest(names: &[String]) -> String {
    if names.is_empty() {
        "; no bundle has a similar name (context_list shows them all)".to_string()
    } else {
        format!(
            "; did you mean {}?",
            names
                .iter()
                .map(|n| format!("`{n}`"))
                .collect::<Vec<_>>()
                .join(", ")
        )
    }
}

type Result<T, E = ContextError> = std::result::Result<T, E>;

/// One item as a client gives it: a path with a line range, or a symbol (with or without
/// its path), and an optional note.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ItemSpec {
    /// File path relative to the workspace root.
    #[serde(default)]
    pub path: Option<String>,
    /// First line (1-based) of a line-range item; for a symbol, a hint to pick among several.
    #[serde(default)]
    pub start_line: Option<u32>,
    /// Last line (inclusive); defaults to start_line.
    #[serde(default)]
    pub end_line: Option<u32>,
    /// Symbol name, optionally qualified (`Type::method`); resolved in `path` or the index.
    #[serde(default)]
    pub symbol: Option<String>,
    /// Why this place matters (markdown).
    #[serde(default)]
    pub note: Option<String>,
}

/// A symbol item's symbol path: `container::name` and its kind.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SymbolPath {
    /// `container::name`, or `name` at the top level.
    pub path: String,
    /// `function`, `method`, `struct`, `class`...
    pub kind: String,
}

/// One item as saved: where it was, what it said (secrets redacted) and its content hash.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SavedItem {
    /// Path relative to the workspace root, `/`-separated.
    pub path: String,
    pub start_line: u32,
    pub end_line: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub symbol: Option<SymbolPath>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// Hash of the original text (before redaction): `xxh3:<16 hex>`.
    pub hash: String,
    /// The captured text, secrets redacted.
    pub text: String,
}

/// How an item relates to the code now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ItemStatus {
    /// The same text at the same place.
    Fresh,
    /// The same text elsewhere in the file, or the symbol moved; the new lines are given.
    Moved,
    /// The text changed; the current text and a diff against the saved one are given.
    Stale,
    /// The file or the symbol is gone; the saved text is given.
    Missing,
}

impl ItemStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ItemStatus::Fresh => "fresh",
            ItemStatus::Moved => "moved",
            ItemStatus::Stale => "stale",
            ItemStatus::Missing => "missing",
        }
    }
}

/// An item re-resolved against the workspace as it is now.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct ResolvedItem {
    /// 1-based position in the bundle.
    pub index: usize,
    pub status: ItemStatus,
    /// Where the item is now (differs from saved_path when a symbol moved to another file).
    pub path: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start_line: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub end_line: Option<u32>,
    pub saved_path: String,
    pub saved_start_line: u32,
    pub saved_end_line: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub symbol: Option<SymbolPath>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// The current text (fresh, moved, stale) or the saved text (missing); secrets redacted.
    pub text: String,
    /// For stale items: a unified diff from the saved text to the current one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub diff: Option<String>,
    /// For missing items: what is gone.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// An item a token budget left out of a `get`.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct OmittedItem {
    pub index: usize,
    pub status: ItemStatus,
    /// `path:start-end` and the symbol, for the reader to ask for it later.
    pub label: String,
    /// Estimated tokens the item would have taken.
    pub tokens: usize,
}

/// How many items are in each state.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct StatusCounts {
    pub fresh: usize,
    pub moved: usize,
    pub stale: usize,
    pub missing: usize,
}

/// What a client asks to save.
#[derive(Debug, Clone, Default)]
pub struct SaveRequest {
    pub name: String,
    pub description: String,
    pub tags: Vec<String>,
    pub notes: String,
    pub items: Vec<ItemSpec>,
}

/// The result of a save or an import.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct SaveOutcome {
    pub name: String,
    pub version: u32,
    pub created_at: String,
    pub items: usize,
    /// Each item's symbol path (when it is a symbol), lines and content hash.
    pub anchors: Vec<SavedAnchor>,
    /// What was redacted: kind, count, where. Never the secret.
    pub redactions: Vec<Redaction>,
}

/// Where a saved item was anchored.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct SavedAnchor {
    pub path: String,
    pub start_line: u32,
    pub end_line: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub symbol: Option<SymbolPath>,
    pub hash: String,
}

/// A bundle in a listing (its newest version).
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct BundleSummary {
    pub name: String,
    pub version: u32,
    pub description: String,
    pub tags: Vec<String>,
    pub items: usize,
    pub created_at: String,
    pub updated_at: String,
}

/// One version in a bundle's history.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct VersionInfo {
    pub version: u32,
    pub created_at: String,
    /// `save` or `import`.
    pub source: String,
}

/// A bundle version as stored, without re-resolving its items.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredBundle {
    pub name: String,
    pub version: u32,
    pub created_at: String,
    pub source: String,
    pub description: String,
    pub tags: Vec<String>,
    pub notes: String,
    pub items: Vec<SavedItem>,
    pub redactions: Vec<Redaction>,
}

/// A bundle version read back with every item re-resolved, cut to a token budget.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct ContextView {
    pub name: String,
    pub version: u32,
    pub latest_version: u32,
    pub created_at: String,
    pub description: String,
    pub tags: Vec<String>,
    pub notes: String,
    /// True when the notes were cut to fit the budget.
    pub notes_truncated: bool,
    pub counts: StatusCounts,
    /// The items that fit the budget, in the bundle's order.
    pub items: Vec<ResolvedItem>,
    /// The items the budget left out.
    pub omitted: Vec<OmittedItem>,
    /// Estimated tokens of the rendered text (about 4 characters a token).
    pub tokens: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<usize>,
    /// The readable rendering (markdown) of the same content.
    #[serde(skip)]
    pub text: String,
}

/// Check a bundle name: 1 to 64 characters of `a-z`, `0-9`, `.`, `_`, `-`.
pub fn validate_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= MAX_NAME_LEN
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-'));
    if ok {
        Ok(())
    } else {
        Err(ContextError::Invalid {
            field: "name".into(),
            message: format!(
                "`{name}` is not accepted: use 1 to {MAX_NAME_LEN} characters of lowercase letters, digits, '.', '_' or '-'"
            ),
        })
    }
}

fn validate_tags(tags: &[String]) -> Result<Vec<String>> {
    if tags.len() > MAX_TAGS {
        return Err(ContextError::Invalid {
            field: "tags".into(),
            message: format!("{} tags given; at most {MAX_TAGS} are accepted", tags.len()),
        });
    }
    let mut out: Vec<String> = Vec::new();
    for (i, tag) in tags.iter().enumerate() {
        let t = tag.trim();
        let ok = !t.is_empty()
            && t.len() <= MAX_TAG_LEN
            && t.chars().all(|c| {
                c.is_ascii_lowercase()
                    || c.is_ascii_digit()
                    || matches!(c, '.' | '_' | '-' | ':' | '/')
            });
        if !ok {
            return Err(ContextError::Invalid {
                field: format!("tags[{i}]"),
                message: format!(
                    "`{tag}` is not accepted: use 1 to {MAX_TAG_LEN} characters of lowercase letters, digits, '.', '_', '-', ':' or '/'"
                ),
            });
        }
        if !out.iter().any(|o| o == t) {
            out.push(t.to_string());
        }
    }
    Ok(out)
}

fn validate_description(description: &str) -> Result<()> {
    let n = description.chars().count();
    if n > MAX_DESCRIPTION_CHARS {
        return Err(ContextError::Invalid {
            field: "description".into(),
            message: format!("{n} characters given; at most {MAX_DESCRIPTION_CHARS} are accepted"),
        });
    }
    Ok(())
}

fn validate_text(field: &str, text: &str, max_bytes: usize) -> Result<()> {
    if text.len() > max_bytes {
        return Err(ContextError::Invalid {
            field: field.into(),
            message: format!(
                "{} bytes given; at most {max_bytes} are accepted",
                text.len()
            ),
        });
    }
    Ok(())
}

/// Save a new version of a bundle: capture every item's text and hash, redact secrets from
/// the description, notes, item notes and captured text, and store it under the next version
/// number. Saving a new name makes version 1.
pub fn save(store: &Store, anchors: &Anchors<'_>, req: &SaveRequest) -> Result<SaveOutcome> {
    validate_name(&req.name)?;
    let tags = validate_tags(&req.tags)?;
    validate_description(&req.description)?;
    validate_text("notes", &req.notes, MAX_NOTES_BYTES)?;
    if req.items.len() > MAX_ITEMS {
        return Err(ContextError::Invalid {
            field: "items".into(),
            message: format!(
                "{} items given; at most {MAX_ITEMS} are accepted",
                req.items.len()
            ),
        });
    }
    if req.items.is_empty() && req.notes.trim().is_empty() {
        return Err(ContextError::Invalid {
            field: "items".into(),
            message: "a bundle needs at least one item or some notes".into(),
        });
    }
    let files = anchor::Files::default();
    let items = req
        .items
        .iter()
        .enumerate()
        .map(|(i, spec)| anchor::capture(anchors, &files, i, spec))
        .collect::<Result<Vec<_>>>()?;
    store_version(
        store,
        &req.name,
        "save",
        &req.description,
        &tags,
        &req.notes,
        items,
    )
}

/// Redact and store one version; shared by save and import.
fn store_version(
    store: &Store,
    name: &str,
    source: &str,
    description: &str,
    tags: &[String],
    notes: &str,
    mut items: Vec<SavedItem>,
) -> Result<SaveOutcome> {
    let mut log = RedactionLog::new();
    let description = log.redact(description.trim(), "description");
    let notes = log.redact(notes, "notes");
    for (i, item) in items.iter_mut().enumerate() {
        item.text = log.redact(&item.text, &format!("item {}", i + 1));
        if let Some(n) = &item.note {
            item.note = Some(log.redact(n, &format!("item {} note", i + 1)));
        }
    }
    let redactions = log.into_report();
    let items_json = to_json(&items)?;
    let (version, created_at) = rows::save_version(
        store,
        &rows::NewContextVersion {
            name,
            source,
            description: &description,
            tags: &to_json(&tags)?,
            notes: &notes,
            items: &items_json,
            redactions: &to_json(&redactions)?,
        },
    )?;
    Ok(SaveOutcome {
        name: name.to_string(),
        version,
        created_at,
        items: items.len(),
        anchors: items
            .iter()
            .map(|it| SavedAnchor {
                path: it.path.clone(),
                start_line: it.start_line,
                end_line: it.end_line,
                symbol: it.symbol.clone(),
                hash: it.hash.clone(),
            })
            .collect(),
        redactions,
    })
}

fn to_json<T: Serialize + ?Sized>(v: &T) -> Result<String> {
    serde_json::to_string(v).map_err(|e| ContextError::Store(StoreError::Invalid(e.to_string())))
}

fn from_json<T: for<'de> Deserialize<'de>>(what: &str, s: &str) -> Result<T> {
    serde_json::from_str(s).map_err(|e| {
        ContextError::Store(StoreError::Invalid(format!(
            "stored {what} is damaged: {e}"
        )))
    })
}

fn row_to_bundle(row: rows::ContextVersionRow) -> Result<StoredBundle> {
    Ok(StoredBundle {
        tags: from_json("tags", &row.tags)?,
        items: from_json("items", &row.items)?,
        redactions: from_json("redactions", &row.redactions)?,
        name: row.name,
        version: row.version,
        created_at: row.created_at,
        source: row.source,
        description: row.description,
        notes: row.notes,
    })
}

/// The error for a name no bundle has, with the closest existing names.
pub fn not_found(store: &Store, name: &str) -> ContextError {
    let names = rows::names(store).unwrap_or_default();
    ContextError::NotFound {
        name: name.to_string(),
        suggestions: closest(name, &names),
    }
}

/// Read one version as stored (newest when `version` is `None`), without re-resolving.
pub fn load(store: &Store, name: &str, version: Option<u32>) -> Result<StoredBundle> {
    if let Some(0) = version {
        return Err(ContextError::Invalid {
            field: "version".into(),
            message: "versions are numbered from 1".into(),
        });
    }
    match rows::get_version(store, name, version)? {
        Some(row) => row_to_bundle(row),
        None => match (version, rows::get_version(store, name, None)?) {
            (Some(v), Some(latest)) => Err(ContextError::NoVersion {
                name: name.to_string(),
                version: v,
                latest: latest.version,
            }),
            _ => Err(not_found(store, name)),
        },
    }
}

/// Read a bundle version with every item re-resolved against the workspace, rendered in the
/// bundle's order until `max_tokens` (about 4 characters a token) is used.
pub fn get(
    store: &Store,
    anchors: &Anchors<'_>,
    name: &str,
    version: Option<u32>,
    max_tokens: Option<usize>,
) -> Result<ContextView> {
    if let Some(t) = max_tokens
        && t < render::MIN_BUDGET
    {
        return Err(ContextError::Invalid {
            field: "max_tokens".into(),
            message: format!(
                "{t} is too small; give at least {} (or leave it out for no limit)",
                render::MIN_BUDGET
            ),
        });
    }
    let bundle = load(store, name, version)?;
    let latest = match version {
        None => bundle.version,
        Some(_) => rows::get_version(store, name, None)?
            .map(|r| r.version)
            .unwrap_or(bundle.version),
    };
    let files = anchor::Files::default();
    let resolved: Vec<ResolvedItem> = bundle
        .items
        .iter()
        .enumerate()
        .map(|(i, item)| {
            let mut r = anchor::resolve(anchors, &files, i + 1, item);
            // The saved text was redacted when saved; the file may still hold the secret.
            r.text = redact::redact_text(&r.text).0;
            r.diff = r.diff.map(|d| redact::redact_text(&d).0);
            r
        })
        .collect();
    Ok(render::render(bundle, latest, resolved, max_tokens))
}

/// Every bundle's newest version, by name; only those carrying `tag` when one is given.
pub fn list(store: &Store, tag: Option<&str>) -> Result<Vec<BundleSummary>> {
    let tag = tag.map(str::trim).filter(|t| !t.is_empty());
    let mut out = Vec::new();
    for row in rows::list_bundles(store)? {
        let tags: Vec<String> = from_json("tags", &row.latest.tags)?;
        if let Some(t) = tag
            && !tags.iter().any(|x| x == t)
        {
            continue;
        }
        let items: Vec<serde_json::Value> = from_json("items", &row.latest.items)?;
        out.push(BundleSummary {
            name: row.name,
            version: row.latest.version,
            description: row.latest.description,
            tags,
            items: items.len(),
            created_at: row.created_at,
            updated_at: row.updated_at,
        });
    }
    Ok(out)
}

/// A bundle's versions, oldest first.
pub fn history(store: &Store, name: &str) -> Result<Vec<VersionInfo>> {
    let h = rows::history(store, name)?;
    if h.is_empty() {
        return Err(not_found(store, name));
    }
    Ok(h.into_iter()
        .map(|(version, created_at, source)| VersionInfo {
            version,
            created_at,
            source,
        })
        .collect())
}

/// Delete a bundle and its whole history; returns how many versions were removed.
pub fn delete(store: &Store, name: &str) -> Result<u32> {
    let n = rows::delete(store, name)?;
    if n == 0 {
        return Err(not_found(store, name));
    }
    Ok(n)
}

/// The bundle version as the JSON file format (pretty, stable key order, newline-terminated).
pub fn export(store: &Store, name: &str, version: Option<u32>) -> Result<String> {
    let bundle = load(store, name, version)?;
    file::to_string(&ContextFile::from_bundle(bundle))
}

/// Import a bundle file as a new version of its bundle (or of `rename`, when given).
/// Items keep their saved hashes, so `get` tells how they sit in this workspace.
pub fn import(store: &Store, json: &str, rename: Option<&str>) -> Result<SaveOutcome> {
    let f = file::parse(json)?;
    let name = rename.unwrap_or(&f.name).to_string();
    validate_name(&name)?;
    let tags = validate_tags(&f.tags)?;
    validate_description(&f.description)?;
    validate_text("notes", &f.notes, MAX_NOTES_BYTES)?;
    if f.items.len() > MAX_ITEMS {
        return Err(ContextError::Invalid {
            field: "items".into(),
            message: format!("{} items; at most {MAX_ITEMS} are accepted", f.items.len()),
        });
    }
    store_version(
        store,
        &name,
        "import",
        &f.description,
        &tags,
        &f.notes,
        f.items,
    )
}

/// Up to three names closest to `wanted` by edit distance (or containing it), best first.
pub fn closest(wanted: &str, names: &[String]) -> Vec<String> {
    let limit = (wanted.chars().count() / 3).max(2);
    let mut scored: Vec<(usize, &String)> = names
        .iter()
        .filter_map(|n| {
            let d = edit_distance(wanted, n);
            let contains =
                !wanted.is_empty() && (n.contains(wanted) || wanted.contains(n.as_str()));
            (d <= limit || contains).then_some((if contains { d.min(limit) } else { d }, n))
        })
        .collect();
    scored.sort();
    scored.into_iter().take(3).map(|(_, n)| n.clone()).collect()
}

/// Levenshtein distance over characters.
pub fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for (i, ca) in a.chars().enumerate() {
        cur[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != *cb);
            cur[j + 1] = sub.min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests;
