//! `search_code`: ranked text search with definitions first (auto, text and symbol modes),
//! and regex search over the files that must hold the pattern's literal identifiers.

use std::collections::HashSet;

use rayon::prelude::*;
use regex::{Regex, RegexBuilder};
use tantivy::query::{BooleanQuery, BoostQuery, Occur, Query};
use tantivy::{Searcher, TantivyDocument};

use super::lines::{CONTEXT, LineMatcher, regex_lines, snippet};
use super::*;
use crate::budget::{self, Budget};
use crate::index::{KIND_SPANS, decode_spans};
use crate::literals;
use crate::tokenizer::{lower, query_words};

/// How much more a definition weighs than a text match.
const DEFINITION_BOOST: f32 = 1.5;
/// What a hit in a hand-written file adds over one in vendored or generated code: a
/// tie-breaker (text scores are ~5-30).
const HAND_TEXT_BOOST: f32 = 0.5;
/// Best hits among which those holding a multi-word query as written come first.
const PHRASE_WINDOW: usize = 40;

/// The query as written, as a pattern (case-insensitive, any run of spaces for a space), when
/// it is more than one identifier: several words or punctuation (`raise ValueError(`,
/// `this.lift(`); `None` for a single identifier, which the index ranks by itself.
fn phrase_pattern(query: &str, words: &[QueryWord]) -> Option<Regex> {
    let single = words.len() == 1 && words[0].original == query;
    if single || words.is_empty() {
        return None;
    }
    let pattern = query
        .split_whitespace()
        .map(regex::escape)
        .collect::<Vec<_>>()
        .join(r"\s+");
    RegexBuilder::new(&pattern)
        .case_insensitive(true)
        .size_limit(1 << 20)
        .build()
        .ok()
}

/// What a hit outside test code adds: a smaller tie-breaker (tests show how code is used).
const NOT_TEST_TEXT_BOOST: f32 = 0.3;

impl SearchIndex {
    /// Full-text, regex or symbol search; see [`SearchRequest`].
    pub fn search_code(&self, req: &SearchRequest) -> Result<SearchResults, SearchError> {
        let query = req.query.trim();
        if query.is_empty() {
            return Err(SearchError::EmptyQuery { field: "query" });
        }
        let limit = budget::limit(req.limit)?;
        let max_tokens = budget::max_tokens(req.max_tokens)?;
        let mut mode = req.mode;
        let words = query_words(query);
        if mode == SearchMode::Regex {
            literals::parse(query)?;
        } else if words.is_empty() {
            if mode == SearchMode::Symbol {
                return Err(SearchError::BadArgument {
                    field: "query",
                    message: format!("`{query}` holds no identifier; symbol mode needs a name"),
                });
            }
            mode = SearchMode::Regex;
        }
        let offset = budget::decode_cursor(req.cursor.as_deref(), &req.fingerprint(mode))?;
        self.ready()?;
        let filters = self.filters(req.path.as_deref(), req.language.as_deref())?;
        if mode == SearchMode::Regex {
            let pattern = if req.mode == SearchMode::Regex {
                query.to_string()
            } else {
                regex::escape(query)
            };
            return self.regex_search(req, mode, &pattern, &filters, offset, limit, max_tokens);
        }
        let mut res = self.ranked_search(req, mode, &words, &filters, offset, limit, max_tokens)?;
        let pending = self.symbols_pending();
        if mode == SearchMode::Auto && pending > 0 {
            res.note = Some(format!(
                "symbols of {pending} files are still being extracted: their definitions are not ranked first yet"
            ));
        } else if mode == SearchMode::Symbol && pending > 0 {
            res.note = Some(format!(
                "symbols of {pending} files are still being extracted: their definitions are not listed yet (find_symbol searches them by text)"
            ));
        }
        Ok(res)
    }

    #[allow(clippy::too_many_arguments)]
    fn ranked_search(
        &self,
        req: &SearchRequest,
        mode: SearchMode,
        words: &[QueryWord],
        filters: &Filters,
        offset: usize,
        limit: usize,
        max_tokens: usize,
    ) -> Result<SearchResults, SearchError> {
        let f = *self.fields();
        let mut should: Vec<(Occur, Box<dyn Query>)> = Vec::new();
        if mode != SearchMode::Symbol {
            let mut clauses: Vec<(Occur, Box<dyn Query>)> = words
                .iter()
                .map(|w| (Occur::Must, word_query(f.content, w)))
                .collect();
            for w in words {
                clauses.push((
                    Occur::Should,
                    Box::new(BoostQuery::new(word_query(f.path_text, w), 0.3)),
                ));
            }
            should.push((Occur::Should, Box::new(BooleanQuery::new(clauses))));
        }
        if mode != SearchMode::Text {
            let name_words = symbol_words(req.query.trim(), words);
            let mut clauses: Vec<(Occur, Box<dyn Query>)> = name_words
                .iter()
                .map(|w| (Occur::Must, word_query(f.name, w)))
                .collect();
            if let [w] = name_words.as_slice() {
                clauses.push((
                    Occur::Should,
                    Box::new(BoostQuery::new(exact_term(f.name_exact, &w.whole), 4.0)),
                ));
                // `Type::method`: the definition inside `Type` before any other `method`.
                if words.len() > 1
                    && let Some(&container) = SymbolName::parse(req.query.trim()).qualifier.last()
                {
                    clauses.push((
                        Occur::Should,
                        Box::new(BoostQuery::new(
                            exact_term(f.container_exact, &lower(container)),
                            4.0,
                        )),
                    ));
                }
            }
            let sym = BooleanQuery::new(clauses);
            should.push((
                Occur::Should,
                Box::new(BoostQuery::new(Box::new(sym), DEFINITION_BOOST)),
            ));
        }
        let query = with_filters(Box::new(BooleanQuery::new(should)), &f, filters);
        let searcher = self.searcher();
        // Hand-written code before vendored and generated code, other things equal.
        let boosts = Boosts {
            hand: HAND_TEXT_BOOST,
            not_test: NOT_TEST_TEXT_BOOST,
            ..Boosts::NONE
        };
        // A line of code or several words: the files that hold them as written come first
        // among the best PHRASE_WINDOW (definitions keep their place), so that `raise
        // ValueError(` finds the raises before a short file that says "raise" and "error"
        // apart. The window is the same for every page, so pages never repeat or skip a hit.
        let phrase = (mode != SearchMode::Symbol)
            .then(|| phrase_pattern(req.query.trim(), words))
            .flatten();
        let window = if phrase.is_some() { PHRASE_WINDOW } else { 0 };
        let (top, total) = self.top_docs(
            &searcher,
            query.as_ref(),
            filters,
            (offset + limit).max(window),
            boosts,
        )?;

        // The order of `top`, its first `window` re-ordered by holding the phrase as written.
        let mut order: Vec<usize> = (0..top.len()).collect();
        if let Some(re) = &phrase {
            let ahead = window.min(top.len());
            let as_written: Vec<bool> = top[..ahead]
                .par_iter()
                .map(|&(_, addr)| {
                    searcher.doc::<TantivyDocument>(addr).is_ok_and(|d| {
                        is_symbol_doc(&d, &f)
                            || self
                                .read_text(&text_of(&d, f.path))
                                .is_some_and(|t| re.is_match(&t))
                    })
                })
                .collect();
            order[..ahead].sort_by_key(|&i| !as_written[i]);
        }

        // Definitions of the page first, so that a text hit on the same line is not repeated.
        struct Doc {
            score: f32,
            doc: TantivyDocument,
        }
        let docs: Vec<Doc> = order
            .into_iter()
            .skip(offset)
            .take(limit)
            .map(|i| {
                let (score, addr) = top[i];
                searcher
                    .doc::<TantivyDocument>(addr)
                    .map(|doc| Doc { score, doc })
            })
            .collect::<Result<_, _>>()?;
        let covered: HashSet<(String, u32)> = docs
            .iter()
            .filter(|d| is_symbol_doc(&d.doc, &f))
            .flat_map(|d| {
                let path = text_of(&d.doc, f.path);
                let line = u64_of(&d.doc, f.line) as u32;
                let end = u64_of(&d.doc, f.end_line) as u32;
                (line..=end.min(line + 3)).map(move |l| (path.clone(), l))
            })
            .collect();

        let matcher = LineMatcher::new(words);
        let mut budget = Budget::new(max_tokens);
        let mut hits = Vec::new();
        let mut consumed = 0;
        for d in &docs {
            let hit = if is_symbol_doc(&d.doc, &f) {
                self.definition_hit(&d.doc, d.score)
            } else {
                self.text_hit(
                    &searcher,
                    &d.doc,
                    d.score,
                    &matcher,
                    phrase.as_ref(),
                    &covered,
                )
            };
            let Some(mut hit) = hit else {
                consumed += 1;
                continue;
            };
            let mut cost = hit_cost(&hit);
            if hits.is_empty() && cost > budget.remaining() {
                trim_hit(&mut hit, budget.remaining());
                cost = hit_cost(&hit);
            }
            if !budget.take(cost) {
                break;
            }
            hits.push(hit);
            consumed += 1;
        }
        Ok(page(
            req,
            mode,
            hits,
            total,
            offset + consumed,
            budget.used(),
            None,
        ))
    }

    fn definition_hit(&self, doc: &TantivyDocument, score: f32) -> Option<SearchHit> {
        let f = self.fields();
        let path = text_of(doc, f.path);
        let line = u64_of(doc, f.line) as u32;
        let end_line = u64_of(doc, f.end_line) as u32;
        let text = self.read_text(&path)?;
        let from = line.saturating_sub(1).max(1);
        let to = end_line.min(line + 3);
        let lines: Vec<&str> = text.lines().take(to as usize).collect();
        Some(SearchHit {
            snippet: snippet(&lines, from, to, line),
            path,
            line,
            end_line,
            symbol: Some(text_of(doc, f.name)),
            kind: Some(text_of(doc, f.sym_kind)),
            score: round(score),
            other_lines: Vec::new(),
        })
    }

    fn text_hit(
        &self,
        searcher: &Searcher,
        doc: &TantivyDocument,
        score: f32,
        matcher: &LineMatcher,
        phrase: Option<&Regex>,
        covered: &HashSet<(String, u32)>,
    ) -> Option<SearchHit> {
        let f = self.fields();
        let path = text_of(doc, f.path);
        let text = self.read_text(&path)?;
        let stored = self.spans_of(searcher, &path);
        let spans = decode_spans(&stored);
        let def_lines: HashSet<u32> = spans.iter().map(|s| s.1).collect();
        let scored =
            matcher.best_lines(&text, &def_lines, |l| !covered.contains(&(path.clone(), l)));
        if scored.is_empty() {
            return None;
        }
        // The first line that holds the query as written, else the best-scored one.
        let as_written = phrase.and_then(|re| {
            re.find_iter(&text)
                .map(|m| {
                    1 + memchr::memchr_iter(b'\n', &text.as_bytes()[..m.start()]).count() as u32
                })
                .find(|&l| !covered.contains(&(path.clone(), l)))
        });
        let best = match as_written {
            Some(l) => l,
            None => scored
                .iter()
                .filter(|(l, _)| !covered.contains(&(path.clone(), *l)))
                .max_by(|a, b| a.1.total_cmp(&b.1).then(b.0.cmp(&a.0)))
                .map(|&(l, _)| l)?,
        };
        // Only the lines up to the snippet's end: files can be long, snippets are not.
        let lines: Vec<&str> = text.lines().take((best + CONTEXT) as usize).collect();
        let symbol = spans
            .iter()
            .filter(|s| s.1 <= best && best <= s.2)
            .min_by_key(|s| s.2 - s.1)
            .map(|s| s.0.to_string());
        let mut other_lines: Vec<u32> = scored
            .iter()
            .map(|&(l, _)| l)
            .filter(|&l| l != best)
            .collect();
        other_lines.sort_unstable();
        other_lines.truncate(8);
        Some(SearchHit {
            snippet: snippet(
                &lines,
                best.saturating_sub(CONTEXT).max(1),
                best + CONTEXT,
                best,
            ),
            path,
            line: best,
            end_line: best,
            symbol,
            kind: None,
            score: round(score),
            other_lines,
        })
    }

    /// The stored line spans of one file's definitions ([`decode_spans`] reads them), from its
    /// spans document; empty while the file waits for the symbol pass.
    fn spans_of(&self, searcher: &Searcher, rel: &str) -> String {
        let f = self.fields();
        let q = BooleanQuery::new(vec![
            (Occur::Must, filter_term(f.path, rel)),
            (Occur::Must, filter_term(f.kind, KIND_SPANS)),
        ]);
        searcher
            .search(&q, &TopDocs::with_limit(1).order_by_score())
            .ok()
            .and_then(|top| top.first().map(|&(_, addr)| addr))
            .and_then(|addr| searcher.doc::<TantivyDocument>(addr).ok())
            .map(|d| text_of(&d, f.spans))
            .unwrap_or_default()
    }

    #[allow(clippy::too_many_arguments)]
    fn regex_search(
        &self,
        req: &SearchRequest,
        mode: SearchMode,
        pattern: &str,
        filters: &Filters,
        offset: usize,
        limit: usize,
        max_tokens: usize,
    ) -> Result<SearchResults, SearchError> {
        let hir = literals::parse(pattern)?;
        let re = RegexBuilder::new(pattern)
            .multi_line(true)
            .size_limit(32 << 20)
            .build()
            .map_err(|e| SearchError::BadArgument {
                field: "query",
                message: format!("regex cannot be compiled: {e}"),
            })?;
        let required = literals::required_tokens(&hir);
        let (candidates, scanned) = if required.is_empty() {
            (self.all_paths(filters)?, true)
        } else {
            let f = *self.fields();
            let terms: Vec<(Occur, Box<dyn Query>)> = required
                .iter()
                .map(|t| (Occur::Must, exact_term(f.content, t)))
                .collect();
            let q = with_filters(Box::new(BooleanQuery::new(terms)), &f, filters);
            (self.matching_paths(q.as_ref(), filters)?, false)
        };
        let per_file: Vec<(String, Vec<u32>)> = candidates
            .par_iter()
            .filter_map(|rel| {
                let text = self.read_text(rel)?;
                let lines = regex_lines(&re, &text);
                (!lines.is_empty()).then(|| (rel.clone(), lines))
            })
            .collect();
        let total: usize = per_file.iter().map(|(_, l)| l.len()).sum();
        let mut budget = Budget::new(max_tokens);
        let mut hits = Vec::new();
        let mut consumed = 0;
        let mut skip = offset;
        'files: for (rel, lines) in &per_file {
            if skip >= lines.len() {
                skip -= lines.len();
                continue;
            }
            let Some(text) = self.read_text(rel) else {
                continue;
            };
            let all = split_lines(&text);
            for &line in &lines[skip..] {
                if hits.len() >= limit {
                    break 'files;
                }
                let mut hit = SearchHit {
                    path: rel.clone(),
                    line,
                    end_line: line,
                    symbol: None,
                    kind: None,
                    snippet: snippet(
                        &all,
                        line.saturating_sub(CONTEXT).max(1),
                        line + CONTEXT,
                        line,
                    ),
                    score: 1.0,
                    other_lines: Vec::new(),
                };
                let mut cost = hit_cost(&hit);
                if hits.is_empty() && cost > budget.remaining() {
                    trim_hit(&mut hit, budget.remaining());
                    cost = hit_cost(&hit);
                }
                if !budget.take(cost) {
                    break 'files;
                }
                hits.push(hit);
                consumed += 1;
            }
            skip = 0;
        }
        let note = scanned.then(|| {
            format!(
                "no whole identifier is certain in this pattern, so {} files were scanned",
                candidates.len()
            )
        });
        let mut res = page(
            req,
            mode,
            hits,
            total,
            offset + consumed,
            budget.used(),
            note,
        );
        res.query = req.query.trim().to_string();
        Ok(res)
    }
}

/// Page bookkeeping shared by the search modes.
fn page(
    req: &SearchRequest,
    mode: SearchMode,
    hits: Vec<SearchHit>,
    total: usize,
    consumed: usize,
    tokens: usize,
    note: Option<String>,
) -> SearchResults {
    let remaining = total.saturating_sub(consumed);
    SearchResults {
        query: req.query.trim().to_string(),
        mode,
        hits,
        total,
        remaining,
        next_cursor: (remaining > 0)
            .then(|| budget::encode_cursor(consumed, &req.fingerprint(mode))),
        tokens,
        note,
    }
}

/// The words a symbol name must contain: the last part of a qualified name, or all words but
/// the keywords that open a definition (`fn block_on`: `block_on`).
fn symbol_words(query: &str, words: &[QueryWord]) -> Vec<QueryWord> {
    // A line of code (`def fetch(self`): the name it defines.
    if query.contains('(') {
        let name = name_as_written(query);
        let named = query_words(name);
        if !named.is_empty() && !name.contains('(') {
            return symbol_words(name, &named);
        }
    }
    let qualified = !query.contains(char::is_whitespace)
        && (query.contains("::") || query.contains('.'))
        && words.len() > 1;
    if qualified {
        return words.last().cloned().into_iter().collect();
    }
    let named: Vec<QueryWord> = words
        .iter()
        .filter(|w| !is_definition_keyword(&w.whole))
        .cloned()
        .collect();
    if named.is_empty() {
        words.to_vec()
    } else {
        named
    }
}

fn is_symbol_doc(doc: &TantivyDocument, f: &Fields) -> bool {
    doc.get_first(f.name).is_some()
}

fn hit_cost(hit: &SearchHit) -> usize {
    budget::tokens(&hit.path)
        + budget::tokens(&hit.snippet)
        + hit.symbol.as_deref().map_or(0, budget::tokens)
        + hit.other_lines.len()
        + HIT_OVERHEAD
}

/// Shrink a hit that alone exceeds the budget to its own line, cut to fit.
fn trim_hit(hit: &mut SearchHit, room: usize) {
    let own = hit
        .snippet
        .lines()
        .find(|l| l.starts_with(&format!("{}:", hit.line)))
        .unwrap_or_default()
        .to_string();
    let chars = (room.saturating_sub(HIT_OVERHEAD + budget::tokens(&hit.path)) * 4).max(40);
    hit.snippet = apex_core::events::truncate_chars(&own, chars);
    hit.other_lines.clear();
}
