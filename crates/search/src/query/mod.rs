//! Queries over the index: `search_code` (auto, text, regex, symbol) in [`text`],
//! `find_symbol` in [`symbol`] and `find_references` in [`references`], each paged and cut to
//! a token budget; the line scorer and snippet helpers they share live in [`lines`].
//!
//! Ranking is BM25 over the code-tokenized content and symbol names, with a boost for the
//! whole identifier over its parts and for definitions. Lines, snippets and reference
//! positions come from the files as they are now, so a hit never shows stale text. This
//! module reads the index; writing it belongs to `index`. This file holds the request and
//! answer types and what the three query kinds share: filters, terms, stored fields.

mod fallback;
mod lines;
mod references;
mod symbol;
mod text;

use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use globset::{GlobBuilder, GlobSet, GlobSetBuilder};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use tantivy::collector::{Collector, Count, DocSetCollector, FilterCollector, TopDocs};
use tantivy::query::{BooleanQuery, BoostQuery, ConstScoreQuery, Occur, Query, TermQuery};
use tantivy::schema::{Field, IndexRecordOption, Value};
use tantivy::{DocAddress, DocId, Score, Searcher, SegmentReader, TantivyDocument, Term};

use super::index::{
    BINARY, Fields, RANK_DECLARATION, RANK_FREE, RANK_HAND, RANK_NOT_TEST, distinct_strings,
    path_hash,
};
use super::names::{SymbolName, is_definition_keyword, kinds_written, name_as_written};
use super::symbols::Language;
use super::tokenizer::QueryWord;
use super::{SearchError, SearchIndex};

pub(crate) use lines::{numbered, split_lines};

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

/// A `search_code` request: the arguments of the tool and of `netra-apex search`, written
/// once.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema, clap::Args)]
#[serde(deny_unknown_fields)]
pub struct SearchRequest {
    /// Text, identifier(s) or regex to look for.
    pub query: String,
    /// auto (ranked text + definitions, default), text, regex or symbol.
    #[serde(default, deserialize_with = "mode_or_auto")]
    #[schemars(with = "Option<String>")]
    #[arg(long, default_value = "auto")]
    pub mode: SearchMode,
    /// Glob over paths relative to the root, e.g. `src/**/*.rs`, `*.py`, or a directory.
    #[arg(long)]
    pub path: Option<String>,
    /// Only files of this language (rust, python, javascript, typescript, tsx, go, java, c, cpp, markdown...).
    #[arg(long)]
    pub language: Option<String>,
    /// Most hits to return (1-500, default 20).
    #[arg(long)]
    pub limit: Option<usize>,
    /// Token budget for the hits (1-20000, default 4000); results stop at a whole hit.
    #[arg(long)]
    pub max_tokens: Option<usize>,
    /// next_cursor of the previous page, to continue.
    #[arg(long)]
    pub cursor: Option<String>,
}

/// `mode` as a client sends it: a name, or null/absent for auto; a wrong name says what is
/// accepted.
fn mode_or_auto<'de, D: serde::Deserializer<'de>>(d: D) -> Result<SearchMode, D::Error> {
    match Option::<String>::deserialize(d)? {
        None => Ok(SearchMode::Auto),
        Some(s) => s.parse().map_err(serde::de::Error::custom),
    }
}

/// `null` as a client may send it for an optional flag: the default.
fn null_as_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
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

/// A `find_symbol` request (the tool's arguments).
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FindSymbolRequest {
    /// Symbol name: plain, qualified by type or module (`Store::open`, `tokio::spawn`, `Client.get`), as written in code (`fn open`) or approximate (fuzzy).
    pub name: String,
    /// function, method, class, struct, enum, trait, interface, module, constant, type, macro or impl.
    pub kind: Option<String>,
    /// Only definitions in this language.
    pub language: Option<String>,
    /// Glob over paths relative to the root.
    pub path: Option<String>,
    /// Include the numbered source lines of each definition (within max_tokens).
    #[serde(default, deserialize_with = "null_as_default")]
    #[schemars(with = "Option<bool>")]
    pub include_body: bool,
    /// Most definitions to return (1-500, default 20).
    pub limit: Option<usize>,
    /// Token budget (1-20000, default 4000).
    pub max_tokens: Option<usize>,
    /// next_cursor of the previous page, to continue.
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
    /// `exact`, `ignore_case` or `fuzzy` from the symbol index; `text_fallback` for a line
    /// shaped like a definition of the name (`fn NAME`, `def NAME`, `NAME(…) {`…) found by text
    /// search where the symbol index has none (a language without a grammar, or a file whose
    /// symbols are still being extracted). Its kind is a guess and its span may be a line.
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
    /// Definitions found in the tiers searched: those named exactly (in any case) while more
    /// of them remain than this page holds; then those and the names starting with the query
    /// or holding it as a word, while those fill the page; on the page where they run out,
    /// the names within edits of it too.
    pub total: usize,
    pub remaining: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
    pub tokens: usize,
    /// Files whose symbols are still being extracted, in the whole index (0 once done).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub symbols_pending: u64,
    /// Those of them that contain the name (at most 20): their definition-shaped lines are
    /// among the definitions as `text_fallback`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pending_files: Vec<String>,
    /// Says when definitions come from text search, and why.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// A `find_references` request (the tool's arguments).
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReferenceRequest {
    /// The identifier whose occurrences to list (for `a::b` the last part).
    pub name: String,
    /// Glob over paths relative to the root.
    pub path: Option<String>,
    /// Only files of this language.
    pub language: Option<String>,
    /// Most occurrences to return (1-500, default 20).
    pub limit: Option<usize>,
    /// Token budget (1-20000, default 4000).
    pub max_tokens: Option<usize>,
    /// next_cursor of the previous page, to continue.
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

/// Runs `collector` over the documents of `query` that `filters`' path glob allows.
fn search_filtered<C>(
    searcher: &Searcher,
    query: &dyn Query,
    filters: &Filters,
    collector: C,
) -> Result<C::Fruit, SearchError>
where
    C: Collector,
    C::Fruit: 'static,
{
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

/// What a match's rank bits ([`RANK_HAND`], [`RANK_FREE`], [`RANK_DECLARATION`],
/// [`RANK_NOT_TEST`]) add to its score, read from the `rank` fast field as the top documents
/// are chosen.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Boosts {
    hand: f32,
    free: f32,
    declaration: f32,
    not_test: f32,
}

impl Boosts {
    const NONE: Boosts = Boosts {
        hand: 0.0,
        free: 0.0,
        declaration: 0.0,
        not_test: 0.0,
    };

    fn of(&self, rank: u64) -> f32 {
        let bit = |b: u64, v: f32| if rank & b != 0 { v } else { 0.0 };
        bit(RANK_HAND, self.hand)
            + bit(RANK_FREE, self.free)
            + bit(RANK_DECLARATION, self.declaration)
            + bit(RANK_NOT_TEST, self.not_test)
    }
}

/// Path and language filters, resolved against the manifest.
struct Filters {
    /// Hashes of the paths a glob allows; `None` means every path.
    allowed: Option<Arc<HashSet<u64>>>,
    glob: Option<GlobSet>,
    lang: Option<String>,
}

impl Filters {
    /// These filters, further limited to the paths whose hashes are `hashes` (for the index's
    /// searches: [`Filters::allows`] still answers for the glob and language alone).
    fn within(&self, hashes: HashSet<u64>) -> Filters {
        let allowed = match &self.allowed {
            None => hashes,
            Some(a) => hashes.into_iter().filter(|h| a.contains(h)).collect(),
        };
        Filters {
            allowed: Some(Arc::new(allowed)),
            glob: self.glob.clone(),
            lang: self.lang.clone(),
        }
    }

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

    /// The best `n` documents for `query` by its score plus what `boosts` give their rank
    /// bits, and how many match.
    fn top_docs(
        &self,
        searcher: &Searcher,
        query: &dyn Query,
        filters: &Filters,
        n: usize,
        boosts: Boosts,
    ) -> Result<(Vec<(f32, DocAddress)>, usize), SearchError> {
        let top = TopDocs::with_limit(n.max(1));
        if boosts == Boosts::NONE {
            return search_filtered(searcher, query, filters, (top.order_by_score(), Count));
        }
        let ranked = top.tweak_score(move |segment: &SegmentReader| {
            let rank = segment
                .fast_fields()
                .u64("rank")
                .ok()
                .map(|c| c.first_or_default_col(0));
            move |doc: DocId, score: Score| {
                score + rank.as_ref().map_or(0.0, |r| boosts.of(r.get_val(doc)))
            }
        });
        search_filtered(searcher, query, filters, (ranked, Count))
    }

    /// The current text of an indexed file, or `None` when it vanished since indexing.
    fn read_text(&self, rel: &str) -> Option<String> {
        let bytes = std::fs::read(self.inner.ws.root().join(rel)).ok()?;
        Some(match String::from_utf8(bytes) {
            Ok(s) => s,
            Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
        })
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
        let docs = search_filtered(&searcher, query, filters, DocSetCollector)?;
        let mut by_segment: BTreeMap<u32, Vec<u32>> = BTreeMap::new();
        for d in docs {
            by_segment.entry(d.segment_ord).or_default().push(d.doc_id);
        }
        let mut paths = Vec::new();
        for (seg, ids) in by_segment {
            let reader = searcher.segment_reader(seg);
            let Some(col) = reader.fast_fields().str("file_path")? else {
                continue;
            };
            paths.extend(
                distinct_strings(&col, ids).map_err(|source| SearchError::Io {
                    path: "index".into(),
                    source,
                })?,
            );
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
    scored_term(field, text, 0.0)
}

/// A term that adds `score` to every document holding it, whatever its frequency.
fn scored_term(field: Field, text: &str, score: f32) -> Box<dyn Query> {
    Box::new(ConstScoreQuery::new(
        Box::new(TermQuery::new(
            Term::from_field_text(field, text),
            IndexRecordOption::Basic,
        )),
        score,
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
