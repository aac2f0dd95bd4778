//! Anchoring: capturing an item's text when a bundle is saved, and finding it again later.
//!
//! An item is a line range of a file or a symbol. Saving records the text and its hash;
//! resolving reads the file as it is now and says whether the text is `fresh` (same text,
//! same place), `moved` (same text elsewhere, or the symbol moved), `stale` (changed; with a
//! diff) or `missing` (file or symbol gone). It does not store or render anything.

use std::cell::RefCell;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use similar::TextDiff;

use super::symbols::{SymbolDef, SymbolIndex, symbols_in};
use super::{ContextError, ItemSpec, ItemStatus, ResolvedItem, SavedItem, SymbolPath};
use apex_core::workspace::{Workspace, WorkspaceError};
use apex_search::names::SymbolName;

/// The largest item a bundle will capture, in bytes of text.
pub const MAX_ITEM_BYTES: usize = 256 * 1024;
/// Diffs longer than this many lines are cut, saying how much was left out.
const MAX_DIFF_LINES: usize = 60;

/// What anchoring needs from the world: the workspace (for path safety) and, when the
/// server has one, an index to find symbols by name across the workspace.
#[derive(Clone, Copy)]
pub struct Anchors<'a> {
    pub workspace: &'a Workspace,
    pub index: Option<&'a dyn SymbolIndex>,
}

impl<'a> Anchors<'a> {
    /// Anchoring with no symbol index: symbols must be given with their path.
    pub fn new(workspace: &'a Workspace) -> Self {
        Self {
            workspace,
            index: None,
        }
    }

    pub fn with_index(workspace: &'a Workspace, index: &'a dyn SymbolIndex) -> Self {
        Self {
            workspace,
            index: Some(index),
        }
    }
}

/// The content hash recorded for an item's text.
pub fn content_hash(text: &str) -> String {
    format!("xxh3:{:016x}", xxhash_rust::xxh3::xxh3_64(text.as_bytes()))
}

/// A file's text split into lines, with line endings normalised to `\n`.
pub(crate) struct FileText {
    /// The lines joined with `\n` (no trailing newline).
    joined: String,
    /// Byte offset in `joined` where each line starts, plus one past the end.
    starts: Vec<usize>,
}

impl FileText {
    pub(crate) fn new(raw: &str) -> Self {
        let mut joined = String::with_capacity(raw.len());
        let mut starts = Vec::new();
        for (i, line) in raw.lines().enumerate() {
            if i > 0 {
                joined.push('\n');
            }
            starts.push(joined.len());
            joined.push_str(line);
        }
        starts.push(joined.len() + 1);
        Self { joined, starts }
    }

    pub(crate) fn read(path: &Path) -> std::io::Result<Self> {
        let bytes = std::fs::read(path)?;
        Ok(Self::new(&String::from_utf8_lossy(&bytes)))
    }

    pub(crate) fn line_count(&self) -> u32 {
        (self.starts.len() - 1) as u32
    }

    /// Lines `start..=end` (1-based), clamped to the file; empty when `start` is past the end.
    pub(crate) fn lines(&self, start: u32, end: u32) -> &str {
        let n = self.line_count();
        if start == 0 || start > n || end < start {
            return "";
        }
        let end = end.min(n);
        let from = self.starts[(start - 1) as usize];
        let to = self.starts[end as usize] - 1;
        &self.joined[from..to]
    }

    /// The start lines (1-based) of every block of `count` lines whose hash is `hash`.
    /// When the block's first line is known, only blocks starting with it are hashed.
    fn find_block(&self, hash: &str, count: u32, first_line: Option<&str>) -> Vec<u32> {
        let n = self.line_count();
        if count == 0 || count > n {
            return Vec::new();
        }
        (1..=n - count + 1)
            .filter(|&s| first_line.is_none_or(|f| self.lines(s, s) == f))
            .filter(|&s| content_hash(self.lines(s, s + count - 1)) == hash)
            .collect()
    }
}

/// The files and symbols read during one save or get, so that several items in one file
/// read and parse it once.
#[derive(Default)]
pub(crate) struct Files {
    texts: RefCell<HashMap<PathBuf, Rc<FileText>>>,
    symbols: RefCell<HashMap<PathBuf, Rc<Vec<SymbolDef>>>>,
}

impl Files {
    fn text(&self, abs: &Path) -> std::io::Result<Rc<FileText>> {
        if let Some(t) = self.texts.borrow().get(abs) {
            return Ok(t.clone());
        }
        let t = Rc::new(FileText::read(abs)?);
        self.texts.borrow_mut().insert(abs.to_path_buf(), t.clone());
        Ok(t)
    }

    fn symbols(&self, abs: &Path, file: &FileText) -> Result<Rc<Vec<SymbolDef>>, String> {
        if let Some(s) = self.symbols.borrow().get(abs) {
            return Ok(s.clone());
        }
        let defs = Rc::new(symbols_in(abs, &file.joined)?);
        self.symbols
            .borrow_mut()
            .insert(abs.to_path_buf(), defs.clone());
        Ok(defs)
    }
}

/// Whether `def`, in the file at `rel`, is the symbol `wanted` names (its name, and its
/// container as [`SymbolName::in_container`] reads the qualifier).
fn symbol_matches(def: &SymbolDef, rel: &str, wanted: &SymbolName<'_>) -> bool {
    def.name == wanted.name && wanted.in_container(def.container.as_deref(), rel)
}

fn nearest(defs: Vec<SymbolDef>, line: u32) -> Option<SymbolDef> {
    defs.into_iter()
        .min_by_key(|d| (d.start_line as i64 - line as i64).abs())
}

fn item_field(i: usize, field: &str) -> String {
    format!("items[{i}].{field}")
}

fn invalid(i: usize, field: &str, message: impl Into<String>) -> ContextError {
    ContextError::Invalid {
        field: item_field(i, field),
        message: message.into(),
    }
}

fn path_error(i: usize, e: WorkspaceError) -> ContextError {
    invalid(i, "path", e.to_string())
}

/// Capture one item for saving. `i` is its 0-based position, for messages.
/// Returns the item with its original (unredacted) text; the caller redacts.
pub(crate) fn capture(
    anchors: &Anchors<'_>,
    files: &Files,
    i: usize,
    spec: &ItemSpec,
) -> Result<SavedItem, ContextError> {
    let ws = anchors.workspace;
    let note = spec
        .note
        .as_deref()
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .map(str::to_string);
    let symbol = spec
        .symbol
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty());
    let path = spec
        .path
        .as_deref()
        .map(str::trim)
        .filter(|p| !p.is_empty());

    let (rel, abs, start, end, symbol_path) = match (path, symbol) {
        (None, None) => {
            return Err(invalid(
                i,
                "path",
                "an item needs a path with start_line/end_line, or a symbol",
            ));
        }
        (Some(p), None) => {
            let abs = ws.resolve(p).map_err(|e| path_error(i, e))?;
            if !abs.is_file() {
                return Err(invalid(i, "path", format!("`{p}` is not a file")));
            }
            let Some(start) = spec.start_line else {
                return Err(invalid(
                    i,
                    "start_line",
                    "a path item needs start_line (and end_line); or give a symbol instead",
                ));
            };
            let end = spec.end_line.unwrap_or(start);
            if start == 0 {
                return Err(invalid(i, "start_line", "lines are numbered from 1"));
            }
            if end < start {
                return Err(invalid(
                    i,
                    "end_line",
                    format!("end_line {end} is before start_line {start}"),
                ));
            }
            let file = files
                .text(&abs)
                .map_err(|e| invalid(i, "path", e.to_string()))?;
            if end > file.line_count() {
                return Err(invalid(
                    i,
                    "end_line",
                    format!(
                        "`{p}` has {} lines; end_line {end} is past its end",
                        file.line_count()
                    ),
                ));
            }
            (ws.relative(&abs), abs, start, end, None)
        }
        (p, Some(sym)) => {
            let wanted = SymbolName::parse(sym);
            let name = wanted.name;
            if name.is_empty() {
                return Err(invalid(
                    i,
                    "symbol",
                    "give a symbol name such as `parse` or `Parser::parse`",
                ));
            }
            let hint = spec.start_line.unwrap_or(1);
            let (abs, def) = match p {
                Some(p) => {
                    let abs = ws.resolve(p).map_err(|e| path_error(i, e))?;
                    let file = files
                        .text(&abs)
                        .map_err(|e| invalid(i, "path", format!("cannot read `{p}`: {e}")))?;
                    let defs = files
                        .symbols(&abs, &file)
                        .map_err(|m| invalid(i, "symbol", m))?;
                    let matching: Vec<_> = defs
                        .iter()
                        .filter(|d| symbol_matches(d, p, &wanted))
                        .cloned()
                        .collect();
                    if matching.is_empty() {
                        let mut known: Vec<String> =
                            defs.iter().map(SymbolDef::qualified).collect();
                        known.sort();
                        known.dedup();
                        let close = super::closest(sym, &known);
                        return Err(invalid(
                            i,
                            "symbol",
                            format!(
                                "no symbol `{sym}` in `{p}`{}",
                                if close.is_empty() {
                                    String::new()
                                } else {
                                    format!("; closest: {}", close.join(", "))
                                }
                            ),
                        ));
                    }
                    let def = nearest(matching, hint).ok_or_else(|| {
                        invalid(i, "symbol", format!("no symbol `{sym}` in `{p}`"))
                    })?;
                    (abs, def)
                }
                None => {
                    let Some(index) = anchors.index.filter(|x| x.is_ready()) else {
                        return Err(invalid(
                            i,
                            "path",
                            format!(
                                "symbol `{sym}` was given without a path and the search index is not built (reindex builds it); give its path"
                            ),
                        ));
                    };
                    let found = fresh_definitions(anchors, files, index, name, |rel, d| {
                        symbol_matches(d, rel, &wanted)
                    });
                    match found.len() {
                        0 => {
                            return Err(invalid(
                                i,
                                "symbol",
                                format!(
                                    "no symbol `{sym}` in the search index; check the name or give its path"
                                ),
                            ));
                        }
                        1 => {
                            let (abs, _, def) = found.into_iter().next().ok_or_else(|| {
                                invalid(i, "symbol", format!("no symbol `{sym}`"))
                            })?;
                            (abs, def)
                        }
                        n => {
                            let places: Vec<String> = found
                                .iter()
                                .take(5)
                                .map(|(_, p, d)| {
                                    format!("{p}:{} ({})", d.start_line, d.qualified())
                                })
                                .collect();
                            return Err(invalid(
                                i,
                                "symbol",
                                format!(
                                    "`{sym}` is defined in {n} places ({}); give a path or a container (`Type::{name}`)",
                                    places.join(", ")
                                ),
                            ));
                        }
                    }
                }
            };
            let sp = SymbolPath {
                path: def.qualified(),
                kind: def.kind.clone(),
            };
            (
                ws.relative(&abs),
                abs,
                def.start_line,
                def.end_line,
                Some(sp),
            )
        }
    };

    let file = files
        .text(&abs)
        .map_err(|e| invalid(i, "path", e.to_string()))?;
    let text = file.lines(start, end).to_string();
    if text.len() > MAX_ITEM_BYTES {
        return Err(invalid(
            i,
            "end_line",
            format!(
                "the item is {} bytes; an item may hold at most {MAX_ITEM_BYTES} bytes, split it",
                text.len()
            ),
        ));
    }
    Ok(SavedItem {
        path: rel,
        start_line: start,
        end_line: end,
        symbol: symbol_path,
        note,
        hash: content_hash(&text),
        text,
    })
}

/// A short unified diff from the saved text to the current one, cut at [`MAX_DIFF_LINES`].
pub fn short_diff(saved: &str, current: &str) -> String {
    let old = format!("{saved}\n");
    let new = format!("{current}\n");
    let diff = TextDiff::from_lines(&old, &new);
    let full = diff
        .unified_diff()
        .context_radius(2)
        .header("saved", "current")
        .to_string();
    let lines: Vec<&str> = full.lines().collect();
    if lines.len() <= MAX_DIFF_LINES {
        full
    } else {
        format!(
            "{}\n… {} more diff lines\n",
            lines[..MAX_DIFF_LINES].join("\n"),
            lines.len() - MAX_DIFF_LINES
        )
    }
}

/// Where an item is now, before redaction and rendering.
struct Found {
    status: ItemStatus,
    path: String,
    start_line: u32,
    end_line: u32,
    text: String,
}

/// Re-resolve a saved item against the workspace as it is now. `i` is its 1-based position.
/// The returned texts are not yet redacted.
pub(crate) fn resolve(
    anchors: &Anchors<'_>,
    files: &Files,
    i: usize,
    saved: &SavedItem,
) -> ResolvedItem {
    let outcome = match &saved.symbol {
        None => resolve_lines(anchors, files, saved),
        Some(sym) => resolve_symbol(anchors, files, saved, sym),
    };
    let base = ResolvedItem {
        index: i,
        status: ItemStatus::Missing,
        path: saved.path.clone(),
        start_line: None,
        end_line: None,
        saved_path: saved.path.clone(),
        saved_start_line: saved.start_line,
        saved_end_line: saved.end_line,
        symbol: saved.symbol.clone(),
        note: saved.note.clone(),
        text: saved.text.clone(),
        diff: None,
        reason: None,
    };
    match outcome {
        Ok(found) => {
            let diff =
                (found.status == ItemStatus::Stale).then(|| short_diff(&saved.text, &found.text));
            ResolvedItem {
                status: found.status,
                path: found.path,
                start_line: Some(found.start_line),
                end_line: Some(found.end_line),
                text: found.text,
                diff,
                ..base
            }
        }
        Err(reason) => ResolvedItem {
            reason: Some(reason),
            ..base
        },
    }
}

/// Read a saved path again, through the workspace's path safety.
fn open(
    anchors: &Anchors<'_>,
    files: &Files,
    rel: &str,
) -> Result<(PathBuf, Rc<FileText>), String> {
    let abs = anchors.workspace.resolve(rel).map_err(|e| match e {
        WorkspaceError::NotFound { .. } => format!("`{rel}` no longer exists"),
        other => other.to_string(),
    })?;
    let file = files
        .text(&abs)
        .map_err(|e| format!("cannot read `{rel}`: {e}"))?;
    Ok((abs, file))
}

fn resolve_lines(anchors: &Anchors<'_>, files: &Files, saved: &SavedItem) -> Result<Found, String> {
    let (_, file) = open(anchors, files, &saved.path)?;
    let count = saved.end_line - saved.start_line + 1;
    let here = file.lines(saved.start_line, saved.end_line);
    if content_hash(here) == saved.hash {
        return Ok(Found {
            status: ItemStatus::Fresh,
            path: saved.path.clone(),
            start_line: saved.start_line,
            end_line: saved.end_line,
            text: here.to_string(),
        });
    }
    // The saved text is redacted; its first line is usable as a filter only when intact.
    let first = saved
        .text
        .lines()
        .next()
        .filter(|l| !l.contains("[REDACTED:"));
    let starts = file.find_block(&saved.hash, count, first);
    if let Some(&s) = starts
        .iter()
        .min_by_key(|&&s| (s as i64 - saved.start_line as i64).abs())
    {
        return Ok(Found {
            status: ItemStatus::Moved,
            path: saved.path.clone(),
            start_line: s,
            end_line: s + count - 1,
            text: file.lines(s, s + count - 1).to_string(),
        });
    }
    let end = saved.end_line.min(file.line_count());
    Ok(Found {
        status: ItemStatus::Stale,
        path: saved.path.clone(),
        start_line: saved.start_line,
        end_line: end.max(saved.start_line),
        text: here.to_string(),
    })
}

fn resolve_symbol(
    anchors: &Anchors<'_>,
    files: &Files,
    saved: &SavedItem,
    sym: &SymbolPath,
) -> Result<Found, String> {
    let wanted = SymbolName::parse(&sym.path);
    let name = wanted.name;
    let same_kind =
        |rel: &str, d: &SymbolDef| d.kind == sym.kind && symbol_matches(d, rel, &wanted);

    // First the file it was saved from.
    let mut reason = match open(anchors, files, &saved.path) {
        Ok((abs, file)) => match files.symbols(&abs, &file) {
            Ok(defs) => {
                let matching: Vec<_> = defs
                    .iter()
                    .filter(|d| same_kind(&saved.path, d))
                    .cloned()
                    .collect();
                if let Some(found) = best_in_file(&file, &saved.path, matching, saved) {
                    return Ok(found);
                }
                format!(
                    "`{}` ({}) is no longer in `{}`",
                    sym.path, sym.kind, saved.path
                )
            }
            Err(m) => m,
        },
        Err(m) => m,
    };

    // Then anywhere else in the workspace, when an index can say where.
    if let Some(index) = anchors.index.filter(|x| x.is_ready()) {
        let mut by_file: std::collections::BTreeMap<String, Vec<SymbolDef>> = Default::default();
        for (_, p, d) in fresh_definitions(anchors, files, index, name, same_kind) {
            if p != saved.path {
                by_file.entry(p).or_default().push(d);
            }
        }
        let mut changed_elsewhere = None;
        for (p, defs) in by_file {
            let Ok((_, file)) = open(anchors, files, &p) else {
                continue;
            };
            if let Some(found) = best_in_file(&file, &p, defs, saved) {
                if found.status != ItemStatus::Stale {
                    return Ok(Found {
                        status: ItemStatus::Moved,
                        ..found
                    });
                }
                changed_elsewhere.get_or_insert(found);
            }
        }
        if let Some(found) = changed_elsewhere {
            return Ok(found);
        }
        reason.push_str("; the search index knows no other definition");
    }
    Err(reason)
}

/// Definitions named `name` that satisfy `keep`, in the files the index names, as the files
/// are now: the index only says where to look, a fresh parse says where the symbol is.
fn fresh_definitions(
    anchors: &Anchors<'_>,
    files: &Files,
    index: &dyn SymbolIndex,
    name: &str,
    keep: impl Fn(&str, &SymbolDef) -> bool,
) -> Vec<(PathBuf, String, SymbolDef)> {
    let mut paths: Vec<String> = index
        .definitions(name)
        .into_iter()
        .map(|(p, _)| p)
        .collect();
    paths.sort();
    paths.dedup();
    let mut out = Vec::new();
    for rel in paths {
        let Ok((abs, file)) = open(anchors, files, &rel) else {
            continue;
        };
        let Ok(defs) = files.symbols(&abs, &file) else {
            continue;
        };
        for d in defs.iter().filter(|d| d.name == name && keep(&rel, d)) {
            out.push((abs.clone(), rel.clone(), d.clone()));
        }
    }
    out
}

/// Among definitions of the symbol in one file, prefer one whose text is unchanged, then
/// the one nearest the saved line.
fn best_in_file(
    file: &FileText,
    rel: &str,
    defs: Vec<SymbolDef>,
    saved: &SavedItem,
) -> Option<Found> {
    let mut candidates: Vec<Found> = defs
        .into_iter()
        .map(|d| {
            let text = file.lines(d.start_line, d.end_line).to_string();
            let same_text = content_hash(&text) == saved.hash;
            let same_place = rel == saved.path && d.start_line == saved.start_line;
            let status = match (same_text, same_place) {
                (true, true) => ItemStatus::Fresh,
                (true, false) => ItemStatus::Moved,
                (false, _) => ItemStatus::Stale,
            };
            Found {
                status,
                path: rel.to_string(),
                start_line: d.start_line,
                end_line: d.end_line,
                text,
            }
        })
        .collect();
    candidates.sort_by_key(|f| {
        (
            f.status == ItemStatus::Stale,
            (f.start_line as i64 - saved.start_line as i64).abs(),
        )
    });
    candidates.into_iter().next()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_text_slices_lines_and_normalises_endings() {
        let f = FileText::new("a\r\nb\nc\n");
        assert_eq!(f.line_count(), 3);
        assert_eq!(f.lines(1, 1), "a");
        assert_eq!(f.lines(2, 3), "b\nc");
        assert_eq!(f.lines(3, 9), "c");
        assert_eq!(f.lines(4, 5), "");
        let g = FileText::new("");
        assert_eq!(g.line_count(), 0);
        assert_eq!(g.lines(1, 1), "");
    }

    #[test]
    fn finds_a_block_by_hash_wherever_it_went() {
        let f = FileText::new("x\ny\na\nb\nz\na\nb\n");
        let h = content_hash("a\nb");
        assert_eq!(f.find_block(&h, 2, None), vec![3, 6]);
        assert_eq!(f.find_block(&h, 2, Some("a")), vec![3, 6]);
        assert!(f.find_block(&h, 2, Some("x")).is_empty());
        assert!(f.find_block(&content_hash("q"), 1, None).is_empty());
    }

    #[test]
    fn diff_is_unified_and_short() {
        let d = short_diff("fn a() {\n    1\n}", "fn a() {\n    2\n}");
        assert!(d.contains("--- saved") && d.contains("+++ current"), "{d}");
        assert!(d.contains("-    1") && d.contains("+    2"), "{d}");
        let long_old: String = (0..200).map(|i| format!("{i}\n")).collect();
        let long_new: String = (0..200).map(|i| format!("x{i}\n")).collect();
        let d = short_diff(&long_old, &long_new);
        assert!(d.lines().count() <= MAX_DIFF_LINES + 1);
        assert!(d.contains("more diff lines"), "{d}");
    }
}
