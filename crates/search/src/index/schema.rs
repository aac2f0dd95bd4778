//! The index schema: the fields of the three document kinds (file, symbol, spans), the
//! format version an index on disk must carry, and the spans encoding.

use tantivy::schema::{
    FAST, Field, IndexRecordOption, STORED, STRING, Schema, TextFieldIndexing, TextOptions,
};

use super::origin::{Origin, is_test_path};
use crate::symbols::Symbol;
use crate::tokenizer::CODE_TOKENIZER;

/// Bump when the schema or the tokenizer changes: an index of another version is rebuilt.
pub(super) const INDEX_VERSION: &str = "apex-search-7";

pub(super) const VERSION_FILE: &str = "APEX_INDEX_VERSION";

/// The fields of both document kinds.
#[derive(Clone, Copy)]
pub(crate) struct Fields {
    pub kind: Field,
    /// Indexed (deletes and filters by path) and stored (answers), on every document.
    pub path: Field,
    /// The path as a fast column, on file and spans documents only (the manifest and the
    /// text fallback read it): symbol documents, millions of them, do not pay for it.
    pub file_path: Field,
    pub path_hash: Field,
    pub path_text: Field,
    /// Indexed and stored, on every document; [`Fields::file_lang`] is its fast column.
    pub lang: Field,
    pub file_lang: Field,
    pub content: Field,
    pub mtime: Field,
    pub size: Field,
    pub hash: Field,
    pub sym_hash: Field,
    pub nsym: Field,
    pub spans: Field,
    pub name: Field,
    pub name_exact: Field,
    pub sym_kind: Field,
    pub container: Field,
    pub container_exact: Field,
    pub signature: Field,
    pub line: Field,
    pub end_line: Field,
    /// What ranks a file or symbol document besides its text ([`rank`]), read per match
    /// from this fast column by the queries' score tweaks. As optional term clauses
    /// (`origin:hand`, no container, declaration) these were walked posting by posting
    /// around the matches: most documents are hand-written and most definitions free, so a
    /// `find_symbol` whose approximate tiers matched thousands of names read millions of
    /// postings.
    pub rank: Field,
}

pub(crate) fn schema() -> (Schema, Fields) {
    let mut b = Schema::builder();
    let code = TextFieldIndexing::default()
        .set_tokenizer(CODE_TOKENIZER)
        .set_index_option(IndexRecordOption::WithFreqs);
    let code_text = TextOptions::default().set_indexing_options(code.clone());
    let f = Fields {
        kind: b.add_text_field("kind", STRING),
        path: b.add_text_field("path", STRING | STORED),
        file_path: b.add_text_field("file_path", FAST),
        path_hash: b.add_u64_field("path_hash", FAST),
        path_text: b.add_text_field("path_text", code_text.clone()),
        lang: b.add_text_field("lang", STRING | STORED),
        file_lang: b.add_text_field("file_lang", FAST),
        content: b.add_text_field("content", code_text),
        mtime: b.add_u64_field("mtime", FAST),
        size: b.add_u64_field("size", FAST),
        hash: b.add_u64_field("hash", FAST),
        sym_hash: b.add_u64_field("sym_hash", FAST),
        nsym: b.add_u64_field("nsym", FAST),
        spans: b.add_text_field("spans", STORED),
        name: b.add_text_field(
            "name",
            TextOptions::default()
                .set_indexing_options(code)
                .set_stored(),
        ),
        name_exact: b.add_text_field("name_exact", STRING),
        sym_kind: b.add_text_field("sym_kind", STRING | STORED),
        container: b.add_text_field("container", STORED),
        container_exact: b.add_text_field("container_exact", STRING),
        signature: b.add_text_field("signature", STORED),
        line: b.add_u64_field("line", STORED),
        end_line: b.add_u64_field("end_line", STORED),
        rank: b.add_u64_field("rank", FAST),
    };
    (b.build(), f)
}

/// Document kinds, as stored in the `kind` field.
pub(crate) const KIND_FILE: &str = "file";
pub(crate) const KIND_SYMBOL: &str = "symbol";
pub(crate) const KIND_SPANS: &str = "spans";

/// [`Fields::rank`] bits: a hand-written file's documents (not vendored or generated, see
/// `origin.rs`).
pub(crate) const RANK_HAND: u64 = 1;
/// A definition outside any type, class or module body (not a declaration).
pub(crate) const RANK_FREE: u64 = 2;
/// A bodiless declaration ([`Symbol::declaration`]: a C++ method declared in its class, a
/// Rust `mod name;`).
pub(crate) const RANK_DECLARATION: u64 = 4;
/// A file that is not test code (`origin::is_test_path`): its definitions rank before a
/// test's helpers of the same name.
pub(crate) const RANK_NOT_TEST: u64 = 8;

/// The rank bits of a file's documents, whatever they hold.
pub(crate) fn file_rank(origin: Origin, rel: &str) -> u64 {
    let hand = if origin == Origin::Hand { RANK_HAND } else { 0 };
    let not_test = if is_test_path(rel) { 0 } else { RANK_NOT_TEST };
    hand | not_test
}

/// The rank bits of one definition of a file whose bits are `file` ([`file_rank`]).
pub(crate) fn symbol_rank(file: u64, s: &Symbol) -> u64 {
    // A declaration outside any type (a Rust `mod name;`) is not a free definition: it
    // ranks after the methods of the same name too.
    if s.declaration {
        file | RANK_DECLARATION
    } else if s.container.is_none() {
        file | RANK_FREE
    } else {
        file
    }
}

/// The hash of a path, used to filter by path globs with a fast field.
pub(crate) fn path_hash(rel: &str) -> u64 {
    xxhash_rust::xxh3::xxh3_64(rel.as_bytes())
}

/// Symbols of a file as stored with its document: `kind \t name \t line \t end_line` lines.
pub(crate) fn encode_spans(syms: &[Symbol]) -> String {
    let mut s = String::new();
    for sym in syms {
        s.push_str(sym.kind.name());
        s.push('\t');
        s.push_str(&sym.name);
        s.push('\t');
        s.push_str(&sym.line.to_string());
        s.push('\t');
        s.push_str(&sym.end_line.to_string());
        s.push('\n');
    }
    s
}

/// One stored span: name, line, end_line.
pub(crate) fn decode_spans(text: &str) -> Vec<(&str, u32, u32)> {
    text.lines()
        .filter_map(|l| {
            let mut it = l.split('\t');
            let _kind = it.next()?;
            let name = it.next()?;
            let line = it.next()?.parse().ok()?;
            let end = it.next()?.parse().ok()?;
            Some((name, line, end))
        })
        .collect()
}
