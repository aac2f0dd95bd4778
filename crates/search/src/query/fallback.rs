//! `find_symbol`'s text fallback: lines shaped like a definition of a name (`fn NAME`,
//! `def NAME`, `class NAME`, `NAME(…) {`…), found by text search, for what the symbol index
//! cannot answer: files in languages without a grammar, and files whose symbols are still
//! being extracted. Results are labelled `text_fallback`; nothing here is cached.

use std::collections::HashMap;

use rayon::prelude::*;
use regex::Regex;

use super::lines::regex_lines;
use super::*;
use crate::symbols::{SymbolKind, shapes};
use crate::tokenizer::lower;

/// Files one fallback reads at most (in parallel); the answer says when there were more.
const MAX_FILES: usize = 2000;
/// Definitions one fallback returns at most.
const MAX_HITS: usize = 200;
/// Lines a definition found by its shape may span (to its closing brace or dedent).
const MAX_SPAN: usize = 5000;

/// What a fallback found.
pub(super) struct Fallback {
    pub defs: Vec<Definition>,
    /// The files searched that hold the name, by path.
    pub files: Vec<String>,
    /// Files holding the name that were not read (past [`MAX_FILES`]).
    pub skipped: usize,
}

/// What a fallback looks for.
pub(super) struct Wanted<'a> {
    pub name: &'a str,
    pub container: Option<&'a str>,
    pub kind: Option<SymbolKind>,
    /// Only files whose symbols are still pending.
    pub only_pending: bool,
}

impl SearchIndex {
    /// Definition-shaped lines naming `w.name` in the indexed files that hold it as a token.
    pub(super) fn text_fallback(
        &self,
        w: &Wanted<'_>,
        filters: &Filters,
    ) -> Result<Fallback, SearchError> {
        let f = *self.fields();
        let q = with_filters(exact_term(f.content, &lower(w.name)), &f, filters);
        let mut candidates = self.matching_paths(q.as_ref(), filters)?;
        let langs: HashMap<String, String> = {
            let m = self
                .inner
                .engine
                .manifest
                .read()
                .map_err(|_| SearchError::Poisoned)?;
            candidates.retain(|p| {
                m.files
                    .get(p)
                    .is_some_and(|meta| !w.only_pending || meta.symbols_pending())
            });
            candidates
                .iter()
                .filter_map(|p| m.files.get(p).map(|meta| (p.clone(), meta.lang.clone())))
                .collect()
        };
        let skipped = candidates.len().saturating_sub(MAX_FILES);
        candidates.truncate(MAX_FILES);
        let re = Regex::new(&format!(r"\b{}\b", regex::escape(w.name))).map_err(|e| {
            SearchError::BadArgument {
                field: "name",
                message: e.to_string(),
            }
        })?;
        let per_file: Vec<(String, Vec<Definition>)> = candidates
            .par_iter()
            .filter_map(|rel| {
                let text = self.read_text(rel)?;
                let rows = regex_lines(&re, &text);
                if rows.is_empty() {
                    return None;
                }
                let lines = split_lines(&text);
                let language = langs.get(rel).cloned().unwrap_or_default();
                let defs = rows
                    .into_iter()
                    .filter_map(|n| self.shaped_definition(&lines, n as usize - 1, w, &re))
                    .map(|(shape, line, end_line, signature)| Definition {
                        name: shape.name,
                        kind: shape.kind.name().to_string(),
                        path: rel.clone(),
                        line,
                        end_line,
                        signature,
                        container: shape.container,
                        language: language.clone(),
                        match_kind: TEXT_FALLBACK.to_string(),
                        score: 0.0,
                        body: None,
                    })
                    .collect();
                Some((rel.clone(), defs))
            })
            .collect();
        let files = per_file.iter().map(|(p, _)| p.clone()).collect();
        let mut defs: Vec<Definition> = per_file.into_iter().flat_map(|(_, d)| d).collect();
        defs.truncate(MAX_HITS);
        Ok(Fallback {
            defs,
            files,
            skipped,
        })
    }

    /// The definition of `w` that line `row` opens by its shape: (shape, line, end_line,
    /// signature).
    fn shaped_definition(
        &self,
        lines: &[&str],
        row: usize,
        w: &Wanted<'_>,
        re: &Regex,
    ) -> Option<(shapes::Shaped, u32, u32, String)> {
        let shape = shapes::classify(lines, row)?;
        if shape.name != w.name {
            return None;
        }
        let kind_ok = w.kind.is_none_or(|want| {
            want == shape.kind
                || matches!(
                    (want, shape.kind),
                    (SymbolKind::Method, SymbolKind::Function)
                        | (SymbolKind::Function, SymbolKind::Method)
                )
        });
        let line = lines[row];
        let container_ok = w.container.is_none_or(|c| {
            shape
                .container
                .as_deref()
                .is_some_and(|s| s.eq_ignore_ascii_case(c))
                || line.contains(c)
        });
        if !kind_ok || !container_ok {
            return None;
        }
        let end = shapes::block_end(lines, row, MAX_SPAN);
        let at = re.find(line).map_or(0, |m| m.start());
        Some((
            shape,
            row as u32 + 1,
            end as u32 + 1,
            signature_at(line, at),
        ))
    }
}

/// The `match` of a definition found by the text fallback.
pub(super) const TEXT_FALLBACK: &str = "text_fallback";

/// A line's text for a signature: trimmed, at most 240 characters, and for a long line
/// (minified code) starting shortly before byte `at`, where the name is.
fn signature_at(line: &str, at: usize) -> String {
    let mut start = if line.len() > 240 {
        at.saturating_sub(40)
    } else {
        0
    };
    while !line.is_char_boundary(start) {
        start -= 1;
    }
    apex_core::events::truncate_chars(line[start..].trim(), 240)
}
