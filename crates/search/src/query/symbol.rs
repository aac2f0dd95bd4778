//! `find_symbol`: definitions by exact, qualified or approximate name, from the symbol
//! documents of the index, completed by the text fallback (`fallback.rs`) where the index
//! cannot answer: a name it has no definition of, and files whose symbols are pending. It
//! never waits for the symbol pass.

use tantivy::query::{BooleanQuery, BoostQuery, FuzzyTermQuery, Occur, Query};
use tantivy::schema::Value;
use tantivy::{TantivyDocument, Term};

use super::fallback::{Fallback, Wanted};
use super::lines::numbered;
use super::*;
use crate::budget::{self, Budget};
use crate::symbols::SymbolKind;
use crate::tokenizer::{lower, next_identifier, query_words};

/// What a definition outside any type or class adds for an unqualified `find_symbol` name: a
/// tie-breaker between exact matches (their scores are ~10-20).
const FREE_DEFINITION_BOOST: f32 = 1.0;
/// What a hand-written definition adds over a vendored or generated one: more than a free
/// definition does, so that hand-written code comes first where names collide.
pub(super) const HAND_BOOST: f32 = 2.0;
/// What a bodiless declaration (a C++ method declared in its class) loses against the
/// definition of the same name: less than a free definition adds. Every match scores more
/// than this (the fuzzy tier's constant alone is 1.0), so no score goes below zero.
const DECLARATION_PENALTY: f32 = 0.5;
/// What a definition outside test code adds: more than a free definition adds and a
/// declaration loses together, so that tokio's `future::block_on`, and even its `mod
/// block_on;`, come before a test's helper `block_on`; less than a hand-written one adds.
const NOT_TEST_BOOST: f32 = 1.75;
/// What a definition of the kind a keyword asked for (`class Script`) adds: more than the
/// origin, test and free marks together, less than an exact name scores by itself.
const KIND_WRITTEN_BOOST: f32 = 5.0;
/// What a name that starts with the query adds (a constant: the prefix automaton's score).
const PREFIX_SCORE: f32 = 1.5;
/// What a name within the edit distance adds (a constant, as for the prefix).
const FUZZY_SCORE: f32 = 1.0;
/// Pending files named in an answer at most.
const MAX_PENDING_NAMED: usize = 20;

impl SearchIndex {
    /// Definitions by name: exact matches first, then case-insensitive, then fuzzy ones.
    pub fn find_symbol(&self, req: &FindSymbolRequest) -> Result<SymbolResults, SearchError> {
        let given = req.name.trim();
        if given.is_empty() {
            return Err(SearchError::EmptyQuery { field: "name" });
        }
        let asked = SymbolName::parse(given);

        let (qualifier, base) = (asked.qualifier.last().copied(), asked.name);
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
        // `class Script`: the class before a function of the same name (a kind filter is
        // what `kind` is for; a keyword only ranks).
        let hinted = match kind {
            Some(_) => Vec::new(),
            None => kinds_written(given),
        };
        let limit = budget::limit(req.limit)?;
        let max_tokens = budget::max_tokens(req.max_tokens)?;
        let fp = format!(
            "symbol\0{given}\0{:?}\0{:?}\0{:?}\0{}",
            req.kind, req.language, req.path, req.include_body
        );
        let offset = budget::decode_cursor(req.cursor.as_deref(), &fp)?;
        self.ready()?;
        let f = *self.fields();
        let lowered = lower(base);
        let filters = self.filters(req.path.as_deref(), req.language.as_deref())?;
        let (scope, filters) = self.qualifier_scope(qualifier, &lowered, kind, filters)?;
        let container = match scope {
            Scope::Container(c) => Some(c),
            _ => None,
        };
        let word = query_words(base).into_iter().next();
        let distance = match base.chars().count() {
            0..=2 => 0,
            3..=5 => 1,
            _ => 2,
        };
        let exact = || -> Box<dyn Query> {
            Box::new(BoostQuery::new(exact_term(f.name_exact, &lowered), 8.0))
        };
        let word_clause = |w: &QueryWord| -> Box<dyn Query> {
            Box::new(BoostQuery::new(word_query(f.name, w), 2.0))
        };
        // What the rest of the request asks of a definition, around the name's clauses.
        let whole = |name: Vec<(Occur, Box<dyn Query>)>| -> Box<dyn Query> {
            let mut clauses: Vec<(Occur, Box<dyn Query>)> =
                vec![(Occur::Must, Box::new(BooleanQuery::new(name)))];
            if let Some(k) = kind {
                clauses.push((Occur::Must, filter_term(f.sym_kind, k.name())));
            }
            for k in &hinted {
                clauses.push((
                    Occur::Should,
                    scored_term(f.sym_kind, k.name(), KIND_WRITTEN_BOOST),
                ));
            }
            if let Some(c) = container {
                clauses.push((Occur::Must, filter_term(f.container_exact, &lower(c))));
            }
            with_filters(Box::new(BooleanQuery::new(clauses)), &f, &filters)
        };
        // The tiers, each searched only when the ones before it leave room on the page:
        // 1. the name exactly (in any case);
        // 2. names close to it: starting with it, or holding it as a word;
        // 3. names within `distance` edits of it, and nothing closer.
        // The automata of 2 and 3 score a constant. Tier 3's edit-distance automaton reads
        // every segment's name dictionary (~5 ms of a gigabyte's index, against ~0.5 ms
        // for the first two): a page that the first two fill never builds it, and `total`
        // counts the tiers searched (the page where they run out counts the next one too).
        let close = |with_edits: bool| -> Box<dyn Query> {
            let term = Term::from_field_text(f.name_exact, &lowered);
            let scored = |q: FuzzyTermQuery, score: f32| -> (Occur, Box<dyn Query>) {
                (Occur::Should, Box::new(BoostQuery::new(Box::new(q), score)))
            };
            let mut should: Vec<(Occur, Box<dyn Query>)> = vec![
                (Occur::Should, exact()),
                scored(
                    FuzzyTermQuery::new_prefix(term.clone(), 0, true),
                    PREFIX_SCORE,
                ),
            ];
            if with_edits {
                should.push(scored(
                    FuzzyTermQuery::new(term, distance, true),
                    FUZZY_SCORE,
                ));
            }
            if let Some(w) = &word {
                should.push((Occur::Should, word_clause(w)));
            }
            whole(should)
        };
        // Tier 1 alone, scored as the next tier scores it: a name is its own prefix, so the
        // prefix automaton's constant is given here without building the automaton (it reads
        // the postings of every name it matches).
        let mut named: Vec<(Occur, Box<dyn Query>)> = vec![
            (Occur::Must, exact()),
            (
                Occur::Should,
                scored_term(f.name_exact, &lowered, PREFIX_SCORE),
            ),
        ];
        if let Some(w) = &word {
            named.push((Occur::Should, word_clause(w)));
        }
        // Hand-written code first; then, for an unqualified name, a free definition (tokio's
        // `task::spawn_blocking`) before the methods of the same name
        // (`Handle::spawn_blocking`); a declaration after its definition.
        let boosts = Boosts {
            hand: HAND_BOOST,
            free: FREE_DEFINITION_BOOST,
            declaration: -DECLARATION_PENALTY,
            not_test: NOT_TEST_BOOST,
        };
        let searcher = self.searcher();
        let n = offset + limit;
        let (mut top, mut index_total) =
            self.top_docs(&searcher, whole(named).as_ref(), &filters, n, boosts)?;
        // Definitions of tier 3 only (after every one of tiers 1 and 2).
        let mut edits_only: Vec<(f32, DocAddress)> = Vec::new();
        if index_total <= n {
            (top, index_total) =
                self.top_docs(&searcher, close(false).as_ref(), &filters, n, boosts)?;
            if index_total <= n && distance > 0 {
                // Tiers 1 and 2 are all in `top`; the best of the rest come from the three
                // tiers together (their count is the union's).
                let (all, all_total) =
                    self.top_docs(&searcher, close(true).as_ref(), &filters, n, boosts)?;
                let closer: HashSet<DocAddress> = top.iter().map(|&(_, a)| a).collect();
                edits_only = all
                    .into_iter()
                    .filter(|(_, a)| !closer.contains(a))
                    .collect();
                index_total = all_total;
            }
        }
        // Each definition with what ranks it: tier, the raw score and the document's address,
        // the order in which the index chose the top ones (ties go to the lower address), so
        // that a page is the next slice of the same order as the page before it.
        let mut defs: Vec<(u8, f32, Option<DocAddress>, Definition)> = Vec::new();
        let tiered = top
            .into_iter()
            .map(|d| (false, d))
            .chain(edits_only.into_iter().map(|d| (true, d)));
        for (by_edits, (score, addr)) in tiered {
            let doc: TantivyDocument = searcher.doc(addr)?;
            let name = text_of(&doc, f.name);
            let (tier, match_kind) = if name == base {
                (0, "exact")
            } else if lower(&name) == lowered {
                (1, "ignore_case")
            } else if by_edits {
                (4, "fuzzy")
            } else {
                (3, "fuzzy")
            };
            let container = doc
                .get_first(f.container)
                .and_then(|v| v.as_str())
                .map(str::to_string);
            let def = Definition {
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
            };
            defs.push((tier, score, Some(addr), def));
        }
        let wanted = Wanted {
            name: base,
            container,
            kind,
            only_pending: false,
        };
        let known = self.defined_in_index(&lowered, &wanted, &filters)?;
        let (fallback, note) = self.fallback_for(&wanted, known, &filters)?;
        let note = match (scope.note(base), note) {
            (Some(a), Some(b)) => Some(format!("{a}; {b}")),
            (a, b) => a.or(b),
        };
        let fallback_total = fallback.defs.len();
        for d in fallback.defs {
            let covered = defs.iter().any(|(_, _, _, x)| {
                x.path == d.path && x.name == d.name && x.line <= d.line && d.line <= x.end_line
            });
            if !covered {
                defs.push((2, 0.0, None, d));
            }
        }
        let total = index_total + fallback_total;
        defs.sort_by(
            |(a_tier, a_score, a_addr, a), (b_tier, b_score, b_addr, b)| {
                a_tier
                    .cmp(b_tier)
                    .then(b_score.total_cmp(a_score))
                    .then(a_addr.cmp(b_addr))
                    .then(a.path.cmp(&b.path))
                    .then(a.line.cmp(&b.line))
            },
        );
        let mut budget = Budget::new(max_tokens);
        let mut out = Vec::new();
        for mut d in defs
            .into_iter()
            .skip(offset)
            .take(limit)
            .map(|(_, _, _, d)| d)
        {
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
            symbols_pending: self.symbols_pending(),
            pending_files: fallback.pending_files,
            note,
        })
    }

    /// Where the qualifier of a qualified name points, with the filters that hold a search to
    /// it: the first of a type or class of that name (`Store::open`), the files under a
    /// directory or in a file of that name (a module or package: tokio's `task::spawn`,
    /// `serde_json::from_str`) and anywhere that has a definition of the name; where none
    /// has one, the first of them (close names are then looked for there).
    fn qualifier_scope<'q>(
        &self,
        qualifier: Option<&'q str>,
        lowered: &str,
        kind: Option<SymbolKind>,
        filters: Filters,
    ) -> Result<(Scope<'q>, Filters), SearchError> {
        let Some(q) = qualifier else {
            return Ok((Scope::Any, filters));
        };
        let f = *self.fields();
        let searcher = self.searcher();
        let mut scopes: Vec<(Scope<'q>, Option<Filters>)> = Vec::new();
        let container = Term::from_field_text(f.container_exact, &lower(q));
        if searcher.doc_freq(&container)? > 0 {
            scopes.push((Scope::Container(q), None));
        }
        if let Some(w) = query_words(q).pop() {
            let paths = self.matching_paths(word_query(f.path_text, &w).as_ref(), &filters)?;
            if !paths.is_empty() {
                let hashes = paths.iter().map(|p| path_hash(p)).collect();
                scopes.push((Scope::Paths(q), Some(filters.within(hashes))));
            }
        }
        scopes.push((Scope::Elsewhere(q), None));
        let mut first = None;
        for (scope, narrowed) in scopes {
            let wanted = Wanted {
                name: lowered,
                container: match scope {
                    Scope::Container(c) => Some(c),
                    _ => None,
                },
                kind,
                only_pending: false,
            };
            let known =
                self.defined_in_index(lowered, &wanted, narrowed.as_ref().unwrap_or(&filters))?;
            if known {
                return Ok((scope, narrowed.unwrap_or(filters)));
            }
            first.get_or_insert((scope, narrowed));
        }
        match first {
            Some((scope, narrowed)) => Ok((scope, narrowed.unwrap_or(filters))),
            None => Ok((Scope::Elsewhere(q), filters)),
        }
    }

    /// Whether the symbol index holds a definition of the name (any case) that the request's
    /// kind, container and filters allow.
    fn defined_in_index(
        &self,
        lowered: &str,
        w: &Wanted<'_>,
        filters: &Filters,
    ) -> Result<bool, SearchError> {
        let f = *self.fields();
        let mut clauses: Vec<(Occur, Box<dyn Query>)> =
            vec![(Occur::Must, filter_term(f.name_exact, lowered))];
        if let Some(k) = w.kind {
            clauses.push((Occur::Must, filter_term(f.sym_kind, k.name())));
        }
        if let Some(c) = w.container {
            clauses.push((Occur::Must, filter_term(f.container_exact, &lower(c))));
        }
        let q = with_filters(Box::new(BooleanQuery::new(clauses)), &f, filters);
        let (_, n) = self.top_docs(&self.searcher(), q.as_ref(), filters, 1, Boosts::NONE)?;
        Ok(n > 0)
    }

    /// The text fallback a request needs, and the note that explains it: over every file when
    /// the index has no definition of the name, over the pending files when some are, else
    /// none.
    fn fallback_for(
        &self,
        w: &Wanted<'_>,
        known: bool,
        filters: &Filters,
    ) -> Result<(Answered, Option<String>), SearchError> {
        let pending = self.symbols_pending();
        if known && pending == 0 {
            return Ok((Answered::default(), None));
        }
        let only_pending = known;
        let found: Fallback = self.text_fallback(&Wanted { only_pending, ..*w }, filters)?;
        let pending_files: Vec<String> = if pending == 0 {
            Vec::new()
        } else if only_pending {
            found.files.clone()
        } else {
            let m = self
                .inner
                .engine
                .manifest
                .read()
                .map_err(|_| SearchError::Poisoned)?;
            found
                .files
                .iter()
                .filter(|p| m.files.get(*p).is_some_and(|meta| meta.symbols_pending()))
                .cloned()
                .collect()
        };
        let mut notes = Vec::new();
        let name = w.name;
        let n = found.defs.len();
        if !known {
            notes.push(if n > 0 {
                format!(
                    "`{name}` has no definition in the symbol index; {n} line(s) shaped like one, found by text search, are listed with match text_fallback"
                )
            } else {
                format!(
                    "`{name}` has no definition in the symbol index, and no line shaped like one holds it"
                )
            });
        }
        if pending > 0 {
            notes.push(format!(
                "symbols of {pending} files are still being extracted; {} of them hold `{name}` and were searched by text{}",
                pending_files.len(),
                if only_pending && n > 0 {
                    " (their definitions have match text_fallback)"
                } else {
                    ""
                }
            ));
        }
        if found.skipped > 0 {
            notes.push(format!(
                "{} more files holding `{name}` were not searched",
                found.skipped
            ));
        }
        let answered = Answered {
            defs: found.defs,
            pending_files: pending_files.into_iter().take(MAX_PENDING_NAMED).collect(),
        };
        Ok((answered, Some(notes.join("; "))))
    }

    /// Numbered lines `from..=to` of a file, cut to `max_tokens`.
    fn body(&self, rel: &str, from: u32, to: u32, max_tokens: usize) -> Option<String> {
        let text = self.read_text(rel)?;
        let lines = split_lines(&text);
        let (body, _) = numbered(&lines, from, to, max_tokens);
        Some(body)
    }
}

/// Where a name's qualifier points ([`SearchIndex::qualifier_scope`]).
#[derive(Clone, Copy)]
enum Scope<'q> {
    /// No qualifier.
    Any,
    /// Definitions inside the type or class of that name.
    Container(&'q str),
    /// Definitions in files whose path names it (a directory or a file).
    Paths(&'q str),
    /// It names nothing that has the definition: the name anywhere.
    Elsewhere(&'q str),
}

impl Scope<'_> {
    /// What an answer says about how the qualifier was read, where that is not as a type.
    fn note(&self, name: &str) -> Option<String> {
        match self {
            Scope::Any | Scope::Container(_) => None,
            Scope::Paths(q) => Some(format!(
                "`{q}` is read as a module or package: definitions of `{name}` in files whose path names `{q}`"
            )),
            Scope::Elsewhere(q) => Some(format!(
                "no type, directory or file named `{q}` has a definition of `{name}`: definitions of `{name}` anywhere are listed"
            )),
        }
    }
}

/// What a fallback adds to an answer.
#[derive(Default)]
struct Answered {
    defs: Vec<Definition>,
    pending_files: Vec<String>,
}

fn definition_cost(d: &Definition) -> usize {
    budget::tokens(&d.path)
        + budget::tokens(&d.signature)
        + budget::tokens(&d.name)
        + d.container.as_deref().map_or(0, budget::tokens)
        + d.body.as_deref().map_or(0, budget::tokens)
        + HIT_OVERHEAD
}
