//! `find_symbol`: definitions by exact, qualified or approximate name, from the symbol
//! documents of the index.

use tantivy::query::{
    BooleanQuery, BoostQuery, ConstScoreQuery, FuzzyTermQuery, Occur, Query, TermQuery,
};
use tantivy::schema::{IndexRecordOption, Value};
use tantivy::{TantivyDocument, Term};

use super::lines::numbered;
use super::*;
use crate::budget::{self, Budget};
use crate::index::{KIND_SYMBOL, NO_CONTAINER};
use crate::symbols::SymbolKind;
use crate::tokenizer::{lower, next_identifier, query_words};

/// What a definition outside any type or class adds for an unqualified `find_symbol` name: a
/// tie-breaker between exact matches (their scores are ~10-20).
const FREE_DEFINITION_BOOST: f32 = 1.0;

impl SearchIndex {
    /// Definitions by name: exact matches first, then case-insensitive, then fuzzy ones.
    pub fn find_symbol(&self, req: &FindSymbolRequest) -> Result<SymbolResults, SearchError> {
        let given = req.name.trim();
        if given.is_empty() {
            return Err(SearchError::EmptyQuery { field: "name" });
        }
        let (container, base) = split_qualified(given);
        let base_ok = next_identifier(base, 0) == Some((0, base.len()));
        if !base_ok {
            return Err(SearchError::BadArgument {
                field: "name",
                message: format!(
                    "`{given}` is not a symbol name; give an identifier such as `parse_config` or `Store::open`"
                ),
            });
        }
        let kind = match req.kind.as_deref().map(str::trim).filter(|k| !k.is_empty()) {
            None => None,
            Some(k) => Some(
                k.parse::<SymbolKind>()
                    .map_err(|e| SearchError::BadArgument {
                        field: "kind",
                        message: e.to_string(),
                    })?,
            ),
        };
        let limit = budget::limit(req.limit)?;
        let max_tokens = budget::max_tokens(req.max_tokens)?;
        let fp = format!(
            "symbol\0{given}\0{:?}\0{:?}\0{:?}\0{}",
            req.kind, req.language, req.path, req.include_body
        );
        let offset = budget::decode_cursor(req.cursor.as_deref(), &fp)?;
        self.ready_symbols()?;
        let filters = self.filters(req.path.as_deref(), req.language.as_deref())?;
        let f = *self.fields();
        let lowered = lower(base);
        let word = query_words(base).into_iter().next();
        let distance = match base.chars().count() {
            0..=2 => 0,
            3..=5 => 1,
            _ => 2,
        };
        let mut should: Vec<(Occur, Box<dyn Query>)> = vec![
            (
                Occur::Should,
                Box::new(BoostQuery::new(exact_term(f.name_exact, &lowered), 8.0)),
            ),
            (
                Occur::Should,
                Box::new(BoostQuery::new(
                    Box::new(FuzzyTermQuery::new_prefix(
                        Term::from_field_text(f.name_exact, &lowered),
                        0,
                        true,
                    )),
                    1.5,
                )),
            ),
        ];
        if distance > 0 {
            should.push((
                Occur::Should,
                Box::new(FuzzyTermQuery::new(
                    Term::from_field_text(f.name_exact, &lowered),
                    distance,
                    true,
                )),
            ));
        }
        if let Some(w) = &word {
            should.push((
                Occur::Should,
                Box::new(BoostQuery::new(word_query(f.name, w), 2.0)),
            ));
        }
        let mut clauses: Vec<(Occur, Box<dyn Query>)> =
            vec![(Occur::Must, Box::new(BooleanQuery::new(should)))];
        if let Some(k) = kind {
            clauses.push((Occur::Must, filter_term(f.sym_kind, k.name())));
        }
        match container {
            Some(c) => clauses.push((Occur::Must, filter_term(f.container_exact, &lower(c)))),
            // An unqualified name: a free definition (tokio's `task::spawn_blocking`) before
            // the methods of the same name (`Handle::spawn_blocking`), other things equal.
            None => clauses.push((
                Occur::Should,
                Box::new(ConstScoreQuery::new(
                    Box::new(TermQuery::new(
                        Term::from_field_text(f.container_exact, NO_CONTAINER),
                        IndexRecordOption::Basic,
                    )),
                    FREE_DEFINITION_BOOST,
                )),
            )),
        }
        clauses.push((Occur::Must, filter_term(f.kind, KIND_SYMBOL)));
        let query = with_filters(Box::new(BooleanQuery::new(clauses)), &f, &filters);
        let searcher = self.searcher();
        let (top, total) = self.top_docs(&searcher, query.as_ref(), &filters, offset + limit)?;
        let mut defs: Vec<Definition> = Vec::new();
        for (score, addr) in top {
            let doc: TantivyDocument = searcher.doc(addr)?;
            let name = text_of(&doc, f.name);
            let match_kind = if name == base {
                "exact"
            } else if lower(&name) == lowered {
                "ignore_case"
            } else {
                "fuzzy"
            };
            let container = doc
                .get_first(f.container)
                .and_then(|v| v.as_str())
                .map(str::to_string);
            defs.push(Definition {
                name,
                kind: text_of(&doc, f.sym_kind),
                path: text_of(&doc, f.path),
                line: u64_of(&doc, f.line) as u32,
                end_line: u64_of(&doc, f.end_line) as u32,
                signature: text_of(&doc, f.signature),
                container,
                language: text_of(&doc, f.lang),
                match_kind: match_kind.to_string(),
                score: round(score),
                body: None,
            });
        }
        let tier = |m: &str| match m {
            "exact" => 0,
            "ignore_case" => 1,
            _ => 2,
        };
        defs.sort_by(|a, b| {
            tier(&a.match_kind)
                .cmp(&tier(&b.match_kind))
                .then(b.score.total_cmp(&a.score))
                .then(a.path.cmp(&b.path))
                .then(a.line.cmp(&b.line))
        });
        let mut budget = Budget::new(max_tokens);
        let mut out = Vec::new();
        for mut d in defs.into_iter().skip(offset) {
            if req.include_body {
                let room = if out.is_empty() {
                    budget.remaining()
                } else {
                    budget.remaining().saturating_sub(definition_cost(&d))
                };
                d.body = self.body(&d.path, d.line, d.end_line, room.max(16));
            }
            if !budget.take(definition_cost(&d)) {
                break;
            }
            out.push(d);
        }
        let consumed = offset + out.len();
        let remaining = total.saturating_sub(consumed);
        Ok(SymbolResults {
            query: given.to_string(),
            tokens: budget.used(),
            next_cursor: (remaining > 0).then(|| budget::encode_cursor(consumed, &fp)),
            definitions: out,
            total,
            remaining,
        })
    }

    /// Numbered lines `from..=to` of a file, cut to `max_tokens`.
    fn body(&self, rel: &str, from: u32, to: u32, max_tokens: usize) -> Option<String> {
        let text = self.read_text(rel)?;
        let lines: Vec<&str> = text.lines().collect();
        let (body, _) = numbered(&lines, from, to, max_tokens);
        Some(body)
    }
}

fn definition_cost(d: &Definition) -> usize {
    budget::tokens(&d.path)
        + budget::tokens(&d.signature)
        + budget::tokens(&d.name)
        + d.container.as_deref().map_or(0, budget::tokens)
        + d.body.as_deref().map_or(0, budget::tokens)
        + HIT_OVERHEAD
}
