//! The code-aware tokenizer shared by indexing and querying.
//!
//! An identifier yields itself, lowercased, and its parts: `parseHttpRequest` gives
//! `parsehttprequest`, `parse`, `http`, `request`; `MAX_RETRY_COUNT` gives the whole name and
//! `max`, `retry`, `count`. Paths joined by `::` or `/` also yield each joined prefix
//! (`std::io` and `std::io::read`), so a qualified name matches as one term. This module knows
//! nothing of fields or scoring; it only cuts text.

use tantivy::tokenizer::{Token, TokenStream, Tokenizer};

/// Name under which the tokenizer is registered with the index.
pub const CODE_TOKENIZER: &str = "code";

/// Identifiers longer than this (bytes) are noise — base64, minified code — and are dropped.
const MAX_IDENT_BYTES: usize = 128;

/// The tantivy tokenizer: see the module documentation.
#[derive(Clone, Default)]
pub struct CodeTokenizer;

impl Tokenizer for CodeTokenizer {
    type TokenStream<'a> = CodeTokenStream<'a>;

    fn token_stream<'a>(&'a mut self, text: &'a str) -> CodeTokenStream<'a> {
        CodeTokenStream {
            text,
            pos: 0,
            token: Token::default(),
            position: usize::MAX,
            pending: Vec::new(),
            pending_at: 0,
            chain_start: None,
            prev_end: 0,
        }
    }
}

/// The stream behind [`CodeTokenizer`].
pub struct CodeTokenStream<'a> {
    text: &'a str,
    pos: usize,
    token: Token,
    position: usize,
    /// Extra tokens (parts, path prefixes) of the current identifier, as byte ranges.
    pending: Vec<(usize, usize)>,
    pending_at: usize,
    /// Start of the `a::b/c` chain the current identifier continues.
    chain_start: Option<usize>,
    prev_end: usize,
}

impl CodeTokenStream<'_> {
    fn set(&mut self, from: usize, to: usize) {
        self.token.offset_from = from;
        self.token.offset_to = to;
        self.token.position = self.position;
        self.token.text.clear();
        push_lower(&mut self.token.text, &self.text[from..to]);
    }
}

impl TokenStream for CodeTokenStream<'_> {
    fn advance(&mut self) -> bool {
        if self.pending_at < self.pending.len() {
            let (from, to) = self.pending[self.pending_at];
            self.pending_at += 1;
            self.set(from, to);
            return true;
        }
        loop {
            let Some((start, end)) = next_identifier(self.text, self.pos) else {
                return false;
            };
            self.pos = end;
            let sep = &self.text[self.prev_end..start];
            let continues = self.chain_start.is_some() && (sep == "::" || sep == "/");
            let chain = if continues { self.chain_start } else { None };
            self.prev_end = end;
            if end - start > MAX_IDENT_BYTES {
                self.chain_start = None;
                continue;
            }
            self.chain_start = Some(chain.unwrap_or(start));
            self.position = self.position.wrapping_add(1);
            self.pending.clear();
            self.pending_at = 0;
            if push_parts(&self.text[start..end], start, &mut self.pending) < 2 {
                self.pending.clear();
            }
            if let Some(cs) = chain
                && end - cs <= 2 * MAX_IDENT_BYTES
            {
                self.pending.push((cs, end));
            }
            self.set(start, end);
            return true;
        }
    }

    fn token(&self) -> &Token {
        &self.token
    }

    fn token_mut(&mut self) -> &mut Token {
        &mut self.token
    }
}

pub(crate) fn push_lower(out: &mut String, s: &str) {
    if s.is_ascii() {
        // One copy and one pass over the bytes (every token of the text pass comes here:
        // pushing char by char was ~6 % of its CPU).
        let from = out.len();
        out.push_str(s);
        out[from..].make_ascii_lowercase();
    } else {
        out.extend(s.chars().flat_map(char::to_lowercase));
    }
}

/// Lowercase `s` the way the index does.
pub fn lower(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    push_lower(&mut out, s);
    out
}

fn is_word_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// The next run of identifier characters at or after byte `from`.
pub fn next_identifier(text: &str, from: usize) -> Option<(usize, usize)> {
    let bytes = text.as_bytes();
    let mut i = from;
    // Skip to the first word character.
    while i < bytes.len() {
        let b = bytes[i];
        if b < 0x80 {
            if b.is_ascii_alphanumeric() || b == b'_' {
                break;
            }
            i += 1;
        } else {
            let c = text[i..].chars().next()?;
            if is_word_char(c) {
                break;
            }
            i += c.len_utf8();
        }
    }
    if i >= bytes.len() {
        return None;
    }
    let start = i;
    while i < bytes.len() {
        let b = bytes[i];
        if b < 0x80 {
            if !(b.is_ascii_alphanumeric() || b == b'_') {
                break;
            }
            i += 1;
        } else {
            let Some(c) = text[i..].chars().next() else {
                break;
            };
            if !is_word_char(c) {
                break;
            }
            i += c.len_utf8();
        }
    }
    Some((start, i))
}

/// The parts of an identifier as byte ranges: split at `_`, at a lower-to-upper change
/// (`parseHttp`) and before the last capital of a run of capitals (`HTTPServer` -> `HTTP`,
/// `Server`). Digits stay with the letters before them. A one-part identifier gives one range.
pub fn identifier_parts(ident: &str) -> Vec<(usize, usize)> {
    let mut parts = Vec::new();
    let chars: Vec<(usize, char)> = ident.char_indices().collect();
    let mut start: Option<usize> = None;
    for (k, &(i, c)) in chars.iter().enumerate() {
        if c == '_' {
            if let Some(s) = start.take() {
                parts.push((s, i));
            }
            continue;
        }
        if let Some(s) = start {
            let prev = chars[k - 1].1;
            let next = chars.get(k + 1).map(|&(_, n)| n);
            let boundary = c.is_uppercase()
                && (prev.is_lowercase()
                    || prev.is_ascii_digit()
                    || (prev.is_uppercase() && next.is_some_and(char::is_lowercase)));
            if boundary {
                parts.push((s, i));
                start = Some(i);
            }
        } else {
            start = Some(i);
        }
    }
    if let Some(s) = start {
        parts.push((s, ident.len()));
    }
    parts
}

/// Append the parts of `ident` (as [`identifier_parts`] cuts them) to `out`, offset by `base`,
/// and return how many were appended. ASCII identifiers, nearly all of them, are cut without
/// allocating: this runs for every identifier of every indexed file.
fn push_parts(ident: &str, base: usize, out: &mut Vec<(usize, usize)>) -> usize {
    let before = out.len();
    if !ident.is_ascii() {
        out.extend(
            identifier_parts(ident)
                .into_iter()
                .map(|(a, b)| (base + a, base + b)),
        );
        return out.len() - before;
    }
    let b = ident.as_bytes();
    let mut start: Option<usize> = None;
    for (i, &c) in b.iter().enumerate() {
        if c == b'_' {
            if let Some(s) = start.take() {
                out.push((base + s, base + i));
            }
            continue;
        }
        match start {
            Some(s) => {
                let prev = b[i - 1];
                let boundary = c.is_ascii_uppercase()
                    && (prev.is_ascii_lowercase()
                        || prev.is_ascii_digit()
                        || (prev.is_ascii_uppercase()
                            && b.get(i + 1).is_some_and(u8::is_ascii_lowercase)));
                if boundary {
                    out.push((base + s, base + i));
                    start = Some(i);
                }
            }
            None => start = Some(i),
        }
    }
    if let Some(s) = start {
        out.push((base + s, base + b.len()));
    }
    out.len() - before
}

/// What one word of a query asks for: the whole identifier, lowercased, and its parts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryWord {
    /// The identifier as typed.
    pub original: String,
    pub whole: String,
    /// Lowercased parts when the identifier has more than one; otherwise empty.
    pub parts: Vec<String>,
}

/// Cut a query into identifier words, the way the index cut the files. Separators are dropped
/// except that `a::b` and `a/b` also give the joined term (as the tokenizer does).
pub fn query_words(query: &str) -> Vec<QueryWord> {
    let mut words = Vec::new();
    let mut pos = 0;
    while let Some((start, end)) = next_identifier(query, pos) {
        pos = end;
        let ident = &query[start..end];
        if ident.len() > MAX_IDENT_BYTES {
            continue;
        }
        let parts = identifier_parts(ident);
        let parts = if parts.len() > 1 {
            parts
                .into_iter()
                .map(|(a, b)| lower(&ident[a..b]))
                .collect()
        } else {
            Vec::new()
        };
        words.push(QueryWord {
            original: ident.to_string(),
            whole: lower(ident),
            parts,
        });
    }
    words
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens(text: &str) -> Vec<(String, usize)> {
        let mut t = CodeTokenizer;
        let mut stream = t.token_stream(text);
        let mut out = Vec::new();
        while let Some(tok) = stream.next() {
            out.push((tok.text.clone(), tok.position));
        }
        out
    }

    fn texts(text: &str) -> Vec<String> {
        tokens(text).into_iter().map(|(t, _)| t).collect()
    }

    #[test]
    fn splits_snake_and_camel_and_keeps_the_whole() {
        assert_eq!(
            texts("parseHttpRequest(max_retry_count)"),
            [
                "parsehttprequest",
                "parse",
                "http",
                "request",
                "max_retry_count",
                "max",
                "retry",
                "count"
            ]
        );
        assert_eq!(texts("HTTPServer"), ["httpserver", "http", "server"]);
        assert_eq!(texts("utf8Decode"), ["utf8decode", "utf8", "decode"]);
        assert_eq!(texts("__init__"), ["__init__"]);
        assert_eq!(texts("x"), ["x"]);
    }

    #[test]
    fn parts_share_the_position_of_their_identifier() {
        let toks = tokens("fooBar baz");
        assert_eq!(toks[0], ("foobar".into(), 0));
        assert_eq!(toks[1], ("foo".into(), 0));
        assert_eq!(toks[2], ("bar".into(), 0));
        assert_eq!(toks[3], ("baz".into(), 1));
    }

    #[test]
    fn paths_give_their_prefixes() {
        assert_eq!(
            texts("std::io::Read"),
            ["std", "io", "std::io", "read", "std::io::read"]
        );
        assert_eq!(
            texts("src/search_index.rs"),
            [
                "src",
                "search_index",
                "search",
                "index",
                "src/search_index",
                "rs"
            ]
        );
        // A space breaks the chain.
        assert_eq!(texts("a :: b"), ["a", "b"]);
    }

    #[test]
    fn unicode_and_noise() {
        assert_eq!(texts("größe = Größe2"), ["größe", "größe2"]);
        let blob = "A".repeat(200);
        assert_eq!(texts(&format!("{blob} ok")), ["ok"]);
    }

    #[test]
    fn the_ascii_fast_path_cuts_like_the_general_one() {
        for ident in [
            "parseHttpRequest",
            "HTTPServer",
            "utf8Decode",
            "__init__",
            "x",
            "MAX_RETRY_COUNT",
            "a_b__c_",
            "ABCdef",
            "abcDEF",
            "A1B2c3",
            "_",
            "IOError",
            "getX",
            "XMLHttpRequest2x",
        ] {
            let mut fast = Vec::new();
            push_parts(ident, 10, &mut fast);
            let general: Vec<_> = identifier_parts(ident)
                .into_iter()
                .map(|(a, b)| (a + 10, b + 10))
                .collect();
            assert_eq!(fast, general, "{ident}");
        }
    }

    #[test]
    fn query_words_match_the_index() {
        let w = query_words("IndexWriter  commit");
        assert_eq!(w.len(), 2);
        assert_eq!(w[0].whole, "indexwriter");
        assert_eq!(w[0].parts, ["index", "writer"]);
        assert!(w[1].parts.is_empty());
        assert!(query_words("  ()  ").is_empty());
    }
}
