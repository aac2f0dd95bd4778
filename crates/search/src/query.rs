//! Queries over the index: `search_code` (auto, text, regex, symbol), `find_symbol` and
//! `find_references`, each paged and cut to a token budget.
//!
//! Ranking is BM25 over the code-tokenized content and symbol names, with a boost for the
//! whole identifier over its parts and for definitions. Lines, snippets and reference
//! positions come from the files as they are now, so a hit never shows stale text. This
//! module reads the index; writing it belongs to `index.rs`.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use globset::{GlobBuilder, GlobSet, GlobSetBuilder};
use rayon::prelude::*;
use regex::{Regex, RegexBuilder};
use serde::{Deserialize, Serialize};
use tantivy::collector::{Count, DocSetCollector, FilterCollector, TopDocs};
use tantivy::query::{
    BooleanQuery, BoostQuery, ConstScoreQuery, FuzzyTermQuery, Occur, Query, TermQuery,
};
use tantivy::schema::{Field, IndexRecordOption, Value};
use tantivy::{DocAddress, Searcher, TantivyDocument, Term};

use super::budget::{self, Budget};
use super::index::{
    BINARY, Fields, KIND_SPANS, KIND_SYMBOL, NO_CONTAINER, decode_spans, path_hash,
};
use super::symbols::{Language, SymbolKind};
use super::tokenizer::{CodeTokenizer, QueryWord, lower, next_identifier, query_words};
use super::{SearchError, SearchIndex, literals};

/// Lines of context above and below a hit line.
const CONTEXT: u32 = 2;
/// Snippet lines longer than this are cut.
const MAX_LINE_CHARS: usize = 240;
/// What a definition outside any type or class adds for an unqualified `find_symbol` name: a
/// tie-breaker between exact matches (their scores are ~10-20).
const FREE_DEFINITION_BOOST: f32 = 1.0;

/// How much more a definition weighs than a text match.
const DEFINITION_BOOST: f32 = 1.5;
/// Tokens of a hit beyond its path, symbol and snippet (field names, numbers).
const HIT_OVERHEAD: usize = 12;

/// How `search_code` reads its query.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SearchMode {
    /// Ranked text search plus definitions; a query without word characters is matched
    /// literally.
    #[default]
    Auto,
    /// Ranked text search only.
    Text,
    /// A regular expression (Rust `regex` syntax), matched line by line.
    Regex,
    /// Definitions only.
    Symbol,
}

impl SearchMode {
    pub fn name(self) -> &'static str {
        match self {
            SearchMode::Auto => "auto",
            SearchMode::Text => "text",
            SearchMode::Regex => "regex",
            SearchMode::Symbol => "symbol",
        }
    }
}

impl fmt::Display for SearchMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for SearchMode {
    type Err = SearchError;
    fn from_str(s: &str) -> Result<Self, SearchError> {
        match s.trim().to_ascii_lowercase().as_str() {
            "" | "auto" => Ok(SearchMode::Auto),
            "text" => Ok(SearchMode::Text),
            "regex" => Ok(SearchMode::Regex),
            "symbol" => Ok(SearchMode::Symbol),
            _ => Err(SearchError::BadArgument {
                field: "mode",
                message: format!("`{s}` is not a mode; accepted: auto, text, regex, symbol"),
            }),
        }
    }
}

/// A `search_code` request.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct SearchRequest {
    pub query: String,
    #[serde(default)]
    pub mode: SearchMode,
    /// Glob over paths relative to the root (`src/**/*.rs`, `*.py`, or a directory).
    pub path: Option<String>,
    pub language: Option<String>,
    pub limit: Option<usize>,
    pub max_tokens: Option<usize>,
    pub cursor: Option<String>,
}

impl SearchRequest {
    /// A request in `auto` mode with default limits.
    pub fn new(query: impl Into<String>) -> Self {
        Self {
            query: query.into(),
            ..Self::default()
        }
    }

    fn fingerprint(&self, mode: SearchMode) -> String {
        format!(
            "search\0{}\0{}\0{:?}\0{:?}",
            self.query, mode, self.path, self.language
        )
    }
}

/// One place in the code that answers a search.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SearchHit {
    pub path: String,
    pub line: u32,
    pub end_line: u32,
    /// The definition this hit is (when `kind` is set) or the innermost one enclosing it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub symbol: Option<String>,
    /// Set when the hit is a definition: function, struct, class...
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// Numbered lines: `N: text` for the hit line, `N- text` for context.
    pub snippet: String,
    pub score: f32,
    /// Other matching lines of the same file (at most 8).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub other_lines: Vec<u32>,
}

/// The answer to `search_code`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SearchResults {
    pub query: String,
    /// The mode that ran (auto may become a literal scan).
    pub mode: SearchMode,
    pub hits: Vec<SearchHit>,
    /// Matching documents (ranked modes: files plus definitions) or lines (regex).
    pub total: usize,
    /// How many were not returned after this page.
    pub remaining: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
    /// Estimated tokens of the hits.
    pub tokens: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// A `find_symbol` request.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct FindSymbolRequest {
    /// A name (`parse_config`), a qualified name (`Store::open`, `Client.get`) or an
    /// approximation of one (fuzzy matching finds near misses).
    pub name: String,
    pub kind: Option<String>,
    pub language: Option<String>,
    pub path: Option<String>,
    #[serde(default)]
    pub include_body: bool,
    pub limit: Option<usize>,
    pub max_tokens: Option<usize>,
    pub cursor: Option<String>,
}

impl FindSymbolRequest {
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            ..Self::default()
        }
    }
}

/// One definition.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Definition {
    pub name: String,
    pub kind: String,
    pub path: String,
    pub line: u32,
    pub end_line: u32,
    pub signature: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub container: Option<String>,
    pub language: String,
    /// `exact`, `ignore_case` or `fuzzy`.
    #[serde(rename = "match")]
    pub match_kind: String,
    pub score: f32,
    /// Numbered lines of the definition, when asked for (cut to the token budget).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
}

/// The answer to `find_symbol`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SymbolResults {
    pub query: String,
    pub definitions: Vec<Definition>,
    pub total: usize,
    pub remaining: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
    pub tokens: usize,
}

/// A `find_references` request.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ReferenceRequest {
    /// An identifier; for `a::b` or `a.b` the last part is looked for.
    pub name: String,
    pub path: Option<String>,
    pub language: Option<String>,
    pub limit: Option<usize>,
    pub max_tokens: Option<usize>,
    pub cursor: Option<String>,
}

impl ReferenceRequest {
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            ..Self::default()
        }
    }
}

/// One occurrence of an identifier.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Reference {
    pub path: String,
    pub line: u32,
    /// 1-based character column of the occurrence.
    pub column: u32,
    pub snippet: String,
    /// True on the line that defines the name.
    pub definition: bool,
}

/// The answer to `find_references`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct References {
    pub name: String,
    pub references: Vec<Reference>,
    /// Occurrences in all files.
    pub total: usize,
    /// Files with at least one occurrence.
    pub files: usize,
    pub remaining: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
    pub tokens: usize,
}

/// Path and language filters, resolved against the manifest.
struct Filters {
    /// Hashes of the paths a glob allows; `None` means every path.
    allowed: Option<Arc<HashSet<u64>>>,
    glob: Option<GlobSet>,
    lang: Option<String>,
}

impl Filters {
    fn allows(&self, rel: &str, lang: &str) -> bool {
        self.glob.as_ref().is_none_or(|g| g.is_match(rel))
            && self.lang.as_deref().is_none_or(|l| l == lang)
    }
}

impl SearchIndex {
    fn fields(&self) -> &Fields {
        &self.inner.engine.f
    }

    fn searcher(&self) -> Searcher {
        self.inner.engine.handle().reader.searcher()
    }

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
        if mode == SearchMode::Symbol {
            self.ready_symbols()?;
        } else {
            self.ready()?;
        }
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
                    && let (Some(container), _) = split_qualified(req.query.trim())
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
        let (top, total) = self.top_docs(&searcher, query.as_ref(), filters, offset + limit)?;

        // Definitions of the page first, so that a text hit on the same line is not repeated.
        struct Doc {
            score: f32,
            doc: TantivyDocument,
        }
        let docs: Vec<Doc> = top
            .into_iter()
            .skip(offset)
            .map(|(score, addr)| {
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
                self.text_hit(&searcher, &d.doc, d.score, &matcher, &covered)
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

    fn top_docs(
        &self,
        searcher: &Searcher,
        query: &dyn Query,
        filters: &Filters,
        n: usize,
    ) -> Result<(Vec<(f32, DocAddress)>, usize), SearchError> {
        let collector = (TopDocs::with_limit(n.max(1)).order_by_score(), Count);
        Ok(match &filters.allowed {
            Some(set) => {
                let set = set.clone();
                searcher.search(
                    query,
                    &FilterCollector::new(
                        "path_hash".to_string(),
                        move |h: u64| set.contains(&h),
                        collector,
                    ),
                )?
            }
            None => searcher.search(query, &collector)?,
        })
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
        let best = scored
            .iter()
            .filter(|(l, _)| !covered.contains(&(path.clone(), *l)))
            .max_by(|a, b| a.1.total_cmp(&b.1).then(b.0.cmp(&a.0)))
            .map(|&(l, _)| l)?;
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

    /// The current text of an indexed file, or `None` when it vanished since indexing.
    fn read_text(&self, rel: &str) -> Option<String> {
        let bytes = std::fs::read(self.inner.ws.root().join(rel)).ok()?;
        Some(match String::from_utf8(bytes) {
            Ok(s) => s,
            Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
        })
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
            let all: Vec<&str> = text.lines().collect();
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

    /// Every indexed text file the filters allow, sorted.
    fn all_paths(&self, filters: &Filters) -> Result<Vec<String>, SearchError> {
        let m = self
            .inner
            .engine
            .manifest
            .read()
            .map_err(|_| SearchError::Poisoned)?;
        let mut paths: Vec<String> = m
            .files
            .iter()
            .filter(|(rel, meta)| meta.lang != BINARY && filters.allows(rel, &meta.lang))
            .map(|(rel, _)| rel.clone())
            .collect();
        paths.sort();
        Ok(paths)
    }

    /// Paths of the file documents matching `query`, sorted.
    fn matching_paths(
        &self,
        query: &dyn Query,
        filters: &Filters,
    ) -> Result<Vec<String>, SearchError> {
        let searcher = self.searcher();
        let docs = match &filters.allowed {
            Some(set) => {
                let set = set.clone();
                searcher.search(
                    query,
                    &FilterCollector::new(
                        "path_hash".to_string(),
                        move |h: u64| set.contains(&h),
                        DocSetCollector,
                    ),
                )?
            }
            None => searcher.search(query, &DocSetCollector)?,
        };
        let mut by_segment: BTreeMap<u32, Vec<u32>> = BTreeMap::new();
        for d in docs {
            by_segment.entry(d.segment_ord).or_default().push(d.doc_id);
        }
        let mut paths = Vec::new();
        let mut buf = String::new();
        for (seg, ids) in by_segment {
            let reader = searcher.segment_reader(seg);
            let Some(col) = reader.fast_fields().str("path")? else {
                continue;
            };
            for id in ids {
                if let Some(ord) = col.term_ords(id).next() {
                    buf.clear();
                    col.ord_to_str(ord, &mut buf)
                        .map_err(|source| SearchError::Io {
                            path: "index".into(),
                            source,
                        })?;
                    paths.push(buf.clone());
                }
            }
        }
        paths.sort();
        paths.dedup();
        Ok(paths)
    }

    /// Resolve the `path` glob and `language` filters.
    fn filters(&self, glob: Option<&str>, language: Option<&str>) -> Result<Filters, SearchError> {
        let lang = match language.map(str::trim).filter(|l| !l.is_empty()) {
            None => None,
            Some(l) => Some(self.language_filter(l)?),
        };
        let glob = match glob.map(str::trim).filter(|g| !g.is_empty()) {
            None => None,
            Some(g) => Some(path_glob(g)?),
        };
        let allowed = match &glob {
            None => None,
            Some(set) => {
                let m = self
                    .inner
                    .engine
                    .manifest
                    .read()
                    .map_err(|_| SearchError::Poisoned)?;
                Some(Arc::new(
                    m.files
                        .keys()
                        .filter(|rel| set.is_match(String::as_str(rel)))
                        .map(|rel| path_hash(rel))
                        .collect(),
                ))
            }
        };
        Ok(Filters {
            allowed,
            glob,
            lang,
        })
    }

    fn language_filter(&self, given: &str) -> Result<String, SearchError> {
        let l = given.trim().to_ascii_lowercase();
        let canonical = match l.as_str() {
            "rs" => "rust",
            "py" => "python",
            "js" | "jsx" => "javascript",
            "ts" => "typescript",
            "golang" => "go",
            "c++" | "cxx" | "cc" => "cpp",
            other => other,
        }
        .to_string();
        let known: HashSet<String> = {
            let m = self
                .inner
                .engine
                .manifest
                .read()
                .map_err(|_| SearchError::Poisoned)?;
            m.files.values().map(|f| f.lang.clone()).collect()
        };
        if known.contains(&canonical) || Language::ALL.iter().any(|g| g.name() == canonical) {
            return Ok(canonical);
        }
        let mut present: Vec<String> = known.into_iter().filter(|l| l != BINARY).collect();
        present.sort();
        Err(SearchError::BadArgument {
            field: "language",
            message: format!(
                "`{given}` is not a language of this workspace; present: {}",
                present.join(", ")
            ),
        })
    }

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

    /// Whole-identifier occurrences of a name, definitions first.
    pub fn find_references(&self, req: &ReferenceRequest) -> Result<References, SearchError> {
        let given = req.name.trim();
        if given.is_empty() {
            return Err(SearchError::EmptyQuery { field: "name" });
        }
        let (_, base) = split_qualified(given);
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
        self.ready_symbols()?;
        let filters = self.filters(req.path.as_deref(), req.language.as_deref())?;
        let f = *self.fields();
        let lowered = lower(base);
        let q = with_filters(exact_term(f.content, &lowered), &f, &filters);
        let candidates = self.matching_paths(q.as_ref(), &filters)?;

        // Where the name is defined: (path, line, end_line, signature).
        let defs_q = with_filters(
            Box::new(BooleanQuery::new(vec![
                (Occur::Must, exact_term(f.name_exact, &lowered)),
                (Occur::Must, exact_term(f.kind, KIND_SYMBOL)),
            ])),
            &f,
            &filters,
        );
        let searcher = self.searcher();
        let (def_docs, _) = self.top_docs(&searcher, defs_q.as_ref(), &filters, 1000)?;
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
        let mut refs: Vec<Reference> = candidates
            .par_iter()
            .flat_map_iter(|rel| {
                let text = self.read_text(rel).unwrap_or_default();
                let def_lines = definition_lines(&text, rel, &defs);
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

/// The line numbers in `text` that carry the signature of one of `defs` in file `rel`.
fn definition_lines(text: &str, rel: &str, defs: &[(String, u32, u32, String)]) -> HashSet<u32> {
    let mut out = HashSet::new();
    let lines: Vec<&str> = text.lines().collect();
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

/// The words a symbol name must contain: the last part of a qualified name, or all words.
fn symbol_words(query: &str, words: &[QueryWord]) -> Vec<QueryWord> {
    let qualified = !query.contains(char::is_whitespace)
        && (query.contains("::") || query.contains('.'))
        && words.len() > 1;
    if qualified {
        words.last().cloned().into_iter().collect()
    } else {
        words.to_vec()
    }
}

/// `Store::open` -> (Some("Store"), "open"); `Client.get` likewise; `x` -> (None, "x").
fn split_qualified(name: &str) -> (Option<&str>, &str) {
    let cut = name
        .rfind("::")
        .map(|i| (i, 2))
        .or_else(|| name.rfind('.').map(|i| (i, 1)));
    match cut {
        Some((i, w)) if i > 0 && i + w < name.len() => {
            let container = &name[..i];
            let container = container
                .rsplit(['.', ':'])
                .find(|s| !s.is_empty())
                .unwrap_or(container);
            (Some(container), &name[i + w..])
        }
        _ => (None, name),
    }
}

/// The whole identifier, boosted, or all of its parts.
fn word_query(field: Field, w: &QueryWord) -> Box<dyn Query> {
    let whole = exact_term(field, &w.whole);
    if w.parts.is_empty() {
        return whole;
    }
    let parts = BooleanQuery::new(
        w.parts
            .iter()
            .map(|p| (Occur::Must, exact_term(field, p)))
            .collect(),
    );
    Box::new(BooleanQuery::new(vec![
        (Occur::Should, Box::new(BoostQuery::new(whole, 2.0))),
        (Occur::Should, Box::new(parts)),
    ]))
}

fn exact_term(field: Field, text: &str) -> Box<dyn Query> {
    Box::new(TermQuery::new(
        Term::from_field_text(field, text),
        IndexRecordOption::WithFreqs,
    ))
}

/// A term that filters without adding to the score.
fn filter_term(field: Field, text: &str) -> Box<dyn Query> {
    Box::new(ConstScoreQuery::new(
        Box::new(TermQuery::new(
            Term::from_field_text(field, text),
            IndexRecordOption::Basic,
        )),
        0.0,
    ))
}

fn with_filters(query: Box<dyn Query>, f: &Fields, filters: &Filters) -> Box<dyn Query> {
    match &filters.lang {
        None => query,
        Some(lang) => Box::new(BooleanQuery::new(vec![
            (Occur::Must, query),
            (Occur::Must, filter_term(f.lang, lang)),
        ])),
    }
}

/// A glob over root-relative paths. `*.rs` matches at any depth; `src/search` matches the
/// directory and everything under it.
fn path_glob(given: &str) -> Result<GlobSet, SearchError> {
    let g = given.trim().trim_start_matches("./");
    let escapes = g.starts_with('/')
        || g.split(['/', '\\']).any(|c| c == "..")
        || std::path::Path::new(g).is_absolute();
    if escapes {
        return Err(SearchError::BadArgument {
            field: "path",
            message: format!(
                "`{given}` reaches outside the workspace root; give a glob relative to the root such as `src/**/*.rs`"
            ),
        });
    }
    let g = g.trim_end_matches('/');
    let mut patterns = vec![g.to_string(), format!("{g}/**")];
    if !g.contains('/') {
        patterns.push(format!("**/{g}"));
    }
    let mut b = GlobSetBuilder::new();
    for p in patterns {
        let glob = GlobBuilder::new(&p)
            .literal_separator(true)
            .build()
            .map_err(|e| SearchError::BadArgument {
                field: "path",
                message: format!(
                    "`{given}` is not a valid glob ({e}); give e.g. `src/**/*.rs` or `*.py`"
                ),
            })?;
        b.add(glob);
    }
    b.build().map_err(|e| SearchError::BadArgument {
        field: "path",
        message: e.to_string(),
    })
}

fn is_symbol_doc(doc: &TantivyDocument, f: &Fields) -> bool {
    doc.get_first(f.name).is_some()
}

fn text_of(doc: &TantivyDocument, field: Field) -> String {
    doc.get_first(field)
        .and_then(|v| v.as_str())
        .unwrap_or_default()
        .to_string()
}

fn u64_of(doc: &TantivyDocument, field: Field) -> u64 {
    doc.get_first(field).and_then(|v| v.as_u64()).unwrap_or(0)
}

fn round(score: f32) -> f32 {
    (score * 1000.0).round() / 1000.0
}

fn hit_cost(hit: &SearchHit) -> usize {
    budget::tokens(&hit.path)
        + budget::tokens(&hit.snippet)
        + hit.symbol.as_deref().map_or(0, budget::tokens)
        + hit.other_lines.len()
        + HIT_OVERHEAD
}

fn definition_cost(d: &Definition) -> usize {
    budget::tokens(&d.path)
        + budget::tokens(&d.signature)
        + budget::tokens(&d.name)
        + d.container.as_deref().map_or(0, budget::tokens)
        + d.body.as_deref().map_or(0, budget::tokens)
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

/// Lines `from..=to` (1-based, clipped), numbered; the `mark` line gets `:`, others `-`.
pub(crate) fn snippet(lines: &[&str], from: u32, to: u32, mark: u32) -> String {
    let last = (lines.len() as u32).min(to);
    let mut out = String::new();
    for n in from.max(1)..=last {
        let text = lines[n as usize - 1].trim_end_matches('\r');
        let sep = if n == mark { ':' } else { '-' };
        if !out.is_empty() {
            out.push('\n');
        }
        out.push_str(&format!(
            "{n}{sep} {}",
            apex_core::events::truncate_chars(text, MAX_LINE_CHARS)
        ));
    }
    out
}

/// Lines `from..=to` numbered as `N  text`, cut at whole lines to `max_tokens`. Returns the
/// text and the last line included.
pub(crate) fn numbered(lines: &[&str], from: u32, to: u32, max_tokens: usize) -> (String, u32) {
    let last = (lines.len() as u32).min(to);
    let width = last.to_string().len();
    let mut out = String::new();
    let mut budget = Budget::new(max_tokens);
    let mut shown = from.saturating_sub(1);
    for n in from.max(1)..=last {
        let text = lines[n as usize - 1].trim_end_matches('\r');
        let line = format!("{n:>width$}  {text}\n");
        if !budget.take(budget::tokens(&line)) {
            break;
        }
        out.push_str(&line);
        shown = n;
    }
    if shown < last {
        out.push_str(&format!(
            "… {} more lines (continue with start_line {})\n",
            last - shown,
            shown + 1
        ));
    }
    (out, shown)
}

/// Finds and ranks the lines of a file that match the query words.
struct LineMatcher {
    words: Vec<QueryWord>,
    prefilter: Option<Regex>,
}

impl LineMatcher {
    fn new(words: &[QueryWord]) -> Self {
        // A line scores only with a word whole or all of its parts, so the word and its
        // longest part find every such line; common short parts (`info`, `get`) would find
        // many more that cannot score.
        let mut alts: Vec<String> = words
            .iter()
            .flat_map(|w| {
                let longest = w.parts.iter().max_by_key(|p| p.len());
                std::iter::once(&w.whole).chain(longest)
            })
            .map(|t| regex::escape(t))
            .collect();
        alts.sort();
        alts.dedup();
        Self {
            words: words.to_vec(),
            prefilter: cached_prefilter(&alts.join("|")),
        }
    }

    /// `(line, score)` of every line that matches at least one word.
    #[cfg(test)]
    fn score_lines(&self, text: &str) -> Vec<(u32, f32)> {
        let mut out = Vec::new();
        self.scan(text, |n, score| {
            out.push((n, score));
            true
        });
        out
    }

    /// The lines a hit needs: scored like [`LineMatcher::score_lines`], definition lines
    /// (`def_lines`) half a point up, and the scan stops once no later line can beat the
    /// best `usable` one: a definition line with every word whole and as typed, or such a
    /// line (not a definition) with eight more lines found to list besides it. Generated files
    /// match a query's part on hundreds of lines, and tokenizing them all cost a query 20 ms.
    fn best_lines(
        &self,
        text: &str,
        def_lines: &HashSet<u32>,
        usable: impl Fn(u32) -> bool,
    ) -> Vec<(u32, f32)> {
        let top = 4.0 * self.words.len() as f32;
        let mut out = Vec::new();
        let mut have_top = false;
        self.scan(text, |n, score| {
            let score = if def_lines.contains(&n) {
                score + 0.5
            } else {
                score
            };
            out.push((n, score));
            if score >= top && usable(n) {
                if score > top {
                    return false;
                }
                have_top = true;
            }
            !(have_top && out.len() > 8)
        });
        out
    }

    /// Score the lines that match at least one word, in order, until `on_line` says stop.
    fn scan(&self, text: &str, mut on_line: impl FnMut(u32, f32) -> bool) {
        let Some(pre) = &self.prefilter else {
            return;
        };
        let mut tok = CodeTokenizer;
        // Per word: whether the whole identifier was seen, and which parts were.
        let mut whole_seen = vec![false; self.words.len()];
        let mut parts_seen: Vec<Vec<bool>> = self
            .words
            .iter()
            .map(|w| vec![false; w.parts.len()])
            .collect();
        let mut lowered = String::new();
        let mut line_no = 1u32;
        let mut line_start = 0usize;
        let mut scored = 0usize;
        for m in pre.find_iter(text) {
            let s = m.start();
            if s < line_start {
                continue; // another match on a line already taken
            }
            line_no += memchr_count(&text.as_bytes()[line_start..s]);
            line_start = text[..s].rfind('\n').map_or(0, |i| i + 1);
            let end = text[s..].find('\n').map_or(text.len(), |i| s + i);
            let line = &text[line_start..end];
            lowered.clear();
            super::tokenizer::push_lower(&mut lowered, line);
            // Tokenizing is the cost: only lines that hold a word whole or all its parts.
            let may_score = self.words.iter().any(|w| {
                lowered.contains(w.whole.as_str())
                    || (!w.parts.is_empty() && w.parts.iter().all(|p| lowered.contains(p.as_str())))
            });
            let score = if may_score {
                self.score_line(&mut tok, &mut whole_seen, &mut parts_seen, line)
            } else {
                0.0
            };
            if score > 0.0 && !on_line(line_no, score) {
                return;
            }
            scored += 1;
            // Count from the end of this line: the next match is on a later one.
            line_no += 1;
            line_start = (end + 1).min(text.len());
            if end == text.len() || scored >= 5000 {
                return;
            }
        }
    }

    /// One line's score: 3 per word seen as a whole identifier (+1 when written as typed),
    /// 1 per word whose parts are all on the line.
    fn score_line(
        &self,
        tok: &mut CodeTokenizer,
        whole_seen: &mut [bool],
        parts_seen: &mut [Vec<bool>],
        line: &str,
    ) -> f32 {
        use tantivy::tokenizer::{TokenStream, Tokenizer};
        whole_seen.iter_mut().for_each(|b| *b = false);
        parts_seen.iter_mut().flatten().for_each(|b| *b = false);
        let mut stream = tok.token_stream(line);
        while stream.advance() {
            let t = stream.token().text.as_str();
            for (i, w) in self.words.iter().enumerate() {
                if w.whole == t {
                    whole_seen[i] = true;
                }
                for (j, p) in w.parts.iter().enumerate() {
                    if p == t {
                        parts_seen[i][j] = true;
                    }
                }
            }
        }
        let mut score = 0.0f32;
        for (i, w) in self.words.iter().enumerate() {
            if whole_seen[i] {
                score += 3.0;
                if line.contains(&w.original) {
                    score += 1.0;
                }
            } else if !w.parts.is_empty() && parts_seen[i].iter().all(|&b| b) {
                score += 1.0;
            }
        }
        score
    }
}

/// The case-insensitive alternation of a query's words, compiled once per distinct query:
/// compiling it (a DFA and a literal prefilter) cost as much as scoring the lines of a page.
fn cached_prefilter(pattern: &str) -> Option<Regex> {
    const CAPACITY: usize = 512;
    static CACHE: std::sync::LazyLock<std::sync::Mutex<HashMap<String, Option<Regex>>>> =
        std::sync::LazyLock::new(Default::default);
    if let Ok(cache) = CACHE.lock()
        && let Some(re) = cache.get(pattern)
    {
        return re.clone();
    }
    let re = RegexBuilder::new(pattern)
        .case_insensitive(true)
        .build()
        .ok();
    if let Ok(mut cache) = CACHE.lock() {
        if cache.len() >= CAPACITY {
            cache.clear();
        }
        cache.insert(pattern.to_string(), re.clone());
    }
    re
}

fn memchr_count(bytes: &[u8]) -> u32 {
    bytes.iter().filter(|&&b| b == b'\n').count() as u32
}

/// 1-based numbers of the lines where `re` matches (a multi-line match counts its first line).
fn regex_lines(re: &Regex, text: &str) -> Vec<u32> {
    let mut out = Vec::new();
    let mut line_no = 1u32;
    let mut pos = 0usize;
    for m in re.find_iter(text) {
        if m.start() == m.end() && m.start() == text.len() && !text.is_empty() {
            break;
        }
        line_no += memchr_count(&text.as_bytes()[pos..m.start()]);
        pos = m.start();
        if out.last() != Some(&line_no) {
            out.push(line_no);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn qualified_names_split() {
        assert_eq!(split_qualified("Store::open"), (Some("Store"), "open"));
        assert_eq!(split_qualified("a::Store::open"), (Some("Store"), "open"));
        assert_eq!(split_qualified("Client.get"), (Some("Client"), "get"));
        assert_eq!(split_qualified("plain"), (None, "plain"));
    }

    #[test]
    fn globs_are_relative_and_forgiving() {
        let g = path_glob("*.rs").unwrap();
        assert!(g.is_match("src/a.rs") && g.is_match("a.rs") && !g.is_match("a.py"));
        let g = path_glob("src/search").unwrap();
        assert!(g.is_match("src/search/mod.rs") && !g.is_match("src/searcher.rs"));
        let g = path_glob("src/*.rs").unwrap();
        assert!(g.is_match("src/a.rs") && !g.is_match("src/x/a.rs"));
        for bad in ["../x", "/etc/*", "a/../../b"] {
            let e = path_glob(bad).unwrap_err().to_string();
            assert!(e.starts_with("path:") && e.contains("outside"), "{e}");
        }
    }

    #[test]
    fn snippets_mark_the_hit_line() {
        let lines = ["a", "b", "c", "d"];
        assert_eq!(snippet(&lines, 1, 3, 2), "1- a\n2: b\n3- c");
        assert_eq!(snippet(&lines, 3, 9, 4), "3- c\n4: d");
    }

    #[test]
    fn numbered_lines_stop_at_the_budget() {
        let lines: Vec<String> = (1..=100).map(|i| format!("line number {i}")).collect();
        let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
        let (text, last) = numbered(&refs, 1, 100, 50);
        assert!(last < 100 && last > 5, "{last}");
        assert!(text.starts_with("  1  line number 1\n"), "{text}");
        assert!(text.contains(&format!("continue with start_line {}", last + 1)));
    }

    #[test]
    fn every_matching_line_is_scored_once_with_its_number() {
        let m = LineMatcher::new(&query_words("emit"));
        // Several matches on one line, blank lines, CRLF, and a match on the last line
        // without a newline.
        let text = "emit(emit(emit))\n\nnone here\r\nx.emit();\r\n\n\nlast emit";
        let lines: Vec<u32> = m.score_lines(text).iter().map(|&(l, _)| l).collect();
        assert_eq!(lines, vec![1, 4, 7]);
        assert_eq!(m.score_lines("no match at all"), vec![]);
        // The compiled prefilter is shared by equal queries.
        let again = LineMatcher::new(&query_words("emit"));
        assert_eq!(again.score_lines(text).len(), 3);
    }

    #[test]
    fn lines_rank_whole_identifiers_over_parts() {
        let m = LineMatcher::new(&query_words("parseConfig"));
        let text = "let parse = 1;\nfn parseConfig() {}\nconfig.parse()\n";
        let scored = m.score_lines(text);
        let best = scored.iter().max_by(|a, b| a.1.total_cmp(&b.1)).unwrap();
        assert_eq!(best.0, 2);
        assert!(
            scored.iter().any(|&(l, _)| l == 3),
            "parts on one line count"
        );
        assert!(
            !scored.iter().any(|&(l, _)| l == 1),
            "one part alone does not"
        );
    }

    #[test]
    fn regex_lines_are_one_based_and_unique() {
        let re = Regex::new("o").unwrap();
        assert_eq!(regex_lines(&re, "foo\nbar\nzoo\n"), [1, 3]);
    }
}
