//! `find_references`: every whole-identifier occurrence of a name, its definitions first.

use std::collections::HashSet;

use rayon::prelude::*;
use regex::Regex;
use tantivy::TantivyDocument;

use super::lines::MAX_LINE_CHARS;
use super::*;
use crate::budget::{self, Budget};
use crate::symbols::shapes;
use crate::tokenizer::{lower, next_identifier};

impl SearchIndex {
    /// Whole-identifier occurrences of a name, definitions first.
    pub fn find_references(&self, req: &ReferenceRequest) -> Result<References, SearchError> {
        let given = req.name.trim();
        if given.is_empty() {
            return Err(SearchError::EmptyQuery { field: "name" });
        }
        let base = SymbolName::parse(given).name;
        if next_identifier(base, 0) != Some((0, base.len())) {
            return Err(SearchError::BadArgument {
                field: "name",
                message: format!(
                    "`{given}` is not an identifier; give a name such as `parse_config`"
                ),
            });
        }
        let limit = budget::limit(req.limit)?;
        let max_tokens = budget::max_tokens(req.max_tokens)?;
        let fp = format!("refs\0{given}\0{:?}\0{:?}", req.path, req.language);
        let offset = budget::decode_cursor(req.cursor.as_deref(), &fp)?;
        self.ready()?;
        let filters = self.filters(req.path.as_deref(), req.language.as_deref())?;
        let f = *self.fields();
        let lowered = lower(base);
        let q = with_filters(exact_term(f.content, &lowered), &f, &filters);
        let candidates = self.matching_paths(q.as_ref(), &filters)?;

        // Where the name is defined: (path, line, end_line, signature).
        // (Only symbol documents have names.)
        let defs_q = with_filters(exact_term(f.name_exact, &lowered), &f, &filters);
        let searcher = self.searcher();
        let (def_docs, _) =
            self.top_docs(&searcher, defs_q.as_ref(), &filters, 1000, Boosts::NONE)?;
        let mut defs: Vec<(String, u32, u32, String)> = Vec::new();
        for (_, addr) in def_docs {
            let doc: TantivyDocument = searcher.doc(addr)?;
            if text_of(&doc, f.name) == base {
                defs.push((
                    text_of(&doc, f.path),
                    u64_of(&doc, f.line) as u32,
                    u64_of(&doc, f.end_line) as u32,
                    text_of(&doc, f.signature),
                ));
            }
        }

        let re = Regex::new(&format!(r"\b{}\b", regex::escape(base))).map_err(|e| {
            SearchError::BadArgument {
                field: "name",
                message: e.to_string(),
            }
        })?;
        // Files whose symbols are pending: their definitions are recognised by shape.
        let pending: HashSet<&str> = {
            let m = self
                .inner
                .engine
                .manifest
                .read()
                .map_err(|_| SearchError::Poisoned)?;
            candidates
                .iter()
                .filter(|p| m.files.get(*p).is_some_and(|f| f.symbols_pending()))
                .map(String::as_str)
                .collect()
        };
        let mut refs: Vec<Reference> = candidates
            .par_iter()
            .flat_map_iter(|rel| {
                let text = self.read_text(rel).unwrap_or_default();
                let mut def_lines = definition_lines(&text, rel, &defs);
                if pending.contains(rel.as_str()) {
                    def_lines.extend(shaped_lines(&text, base));
                }
                let mut out = Vec::new();
                for (i, line) in text.lines().enumerate() {
                    let n = i as u32 + 1;
                    if let Some(m) = re.find(line) {
                        out.push(Reference {
                            path: rel.clone(),
                            line: n,
                            column: line[..m.start()].chars().count() as u32 + 1,
                            snippet: apex_core::events::truncate_chars(line.trim(), MAX_LINE_CHARS),
                            definition: def_lines.contains(&n),
                        });
                    }
                }
                out
            })
            .collect();
        refs.sort_by(|a, b| {
            b.definition
                .cmp(&a.definition)
                .then(a.path.cmp(&b.path))
                .then(a.line.cmp(&b.line))
        });
        let total = refs.len();
        let files = refs
            .iter()
            .map(|r| r.path.as_str())
            .collect::<HashSet<_>>()
            .len();
        let mut budget = Budget::new(max_tokens);
        let mut out = Vec::new();
        for r in refs.into_iter().skip(offset).take(limit) {
            let cost = budget::tokens(&r.path) + budget::tokens(&r.snippet) + 8;
            if !budget.take(cost) {
                break;
            }
            out.push(r);
        }
        let consumed = offset + out.len();
        let remaining = total.saturating_sub(consumed);
        Ok(References {
            name: base.to_string(),
            references: out,
            total,
            files,
            remaining,
            next_cursor: (remaining > 0).then(|| budget::encode_cursor(consumed, &fp)),
            tokens: budget.used(),
        })
    }
}

/// The line numbers in `text` shaped like a definition of `name`.
fn shaped_lines(text: &str, name: &str) -> Vec<u32> {
    let lines = split_lines(text);
    (0..lines.len())
        .filter(|&row| lines[row].contains(name))
        .filter(|&row| shapes::classify(&lines, row).is_some_and(|s| s.name == name))
        .map(|row| row as u32 + 1)
        .collect()
}

/// The line numbers in `text` that carry the signature of one of `defs` in file `rel`.
fn definition_lines(text: &str, rel: &str, defs: &[(String, u32, u32, String)]) -> HashSet<u32> {
    let mut out = HashSet::new();
    let lines = split_lines(text);
    for (path, line, end, sig) in defs {
        if path != rel {
            continue;
        }
        let sig = sig.trim_end_matches('…');
        let hit = (*line..=(*end).min(line + 10)).find(|&n| {
            lines
                .get(n as usize - 1)
                .is_some_and(|l| !sig.is_empty() && l.trim().starts_with(sig))
        });
        out.insert(hit.unwrap_or(*line));
    }
    out
}
