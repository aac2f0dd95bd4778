//! What a regex needs the index for: validation with the position of an error, and the
//! identifiers every match must contain as whole tokens.
//!
//! A regex like `fn\s+parse_\w+` needs the token `fn`; `impl\s+Display\s+for` needs
//! `impl`, `display` and `for`. Files lacking any of them cannot match, so the regex runs
//! over the index's candidate files instead of the whole tree. When nothing is certain (no
//! literal bounded on both sides, case-insensitive flags, alternations) the caller scans.

use regex_syntax::hir::{Class, Hir, HirKind, Look};

use super::SearchError;
use super::tokenizer::{lower, next_identifier};

/// Parse `pattern`; on failure the error names the 1-based character position.
pub fn parse(pattern: &str) -> Result<Hir, SearchError> {
    regex_syntax::ParserBuilder::new()
        .multi_line(true)
        .build()
        .parse(pattern)
        .map_err(|e| {
            let (offset, message) = match &e {
                regex_syntax::Error::Parse(p) => (p.span().start.offset, p.kind().to_string()),
                regex_syntax::Error::Translate(t) => (t.span().start.offset, t.kind().to_string()),
                other => (0, other.to_string()),
            };
            let position = pattern.get(..offset).map_or(0, |p| p.chars().count()) + 1;
            SearchError::InvalidRegex { position, message }
        })
}

/// Lowercased identifiers that every match of `hir` contains as whole tokens.
pub fn required_tokens(hir: &Hir) -> Vec<String> {
    let mut out = Vec::new();
    collect(hir, &mut out);
    out.sort();
    out.dedup();
    out
}

/// Marks an unknown neighbour in the sequences built below.
const UNKNOWN: char = '\0';

fn collect(hir: &Hir, out: &mut Vec<String>) {
    match hir.kind() {
        HirKind::Concat(subs) => {
            let mut seq = String::from(UNKNOWN);
            for sub in subs {
                match sub.kind() {
                    HirKind::Literal(lit) => seq.push_str(&String::from_utf8_lossy(&lit.0)),
                    _ if is_boundary(sub) => seq.push(' '),
                    _ => {
                        seq.push(UNKNOWN);
                        collect(sub, out);
                    }
                }
            }
            seq.push(UNKNOWN);
            tokens_of(&seq, out);
        }
        HirKind::Capture(c) => collect(&c.sub, out),
        HirKind::Repetition(r) if r.min >= 1 => collect(&r.sub, out),
        _ => {}
    }
}

/// Whether `hir` always matches at a place where no identifier can continue across it.
fn is_boundary(hir: &Hir) -> bool {
    match hir.kind() {
        HirKind::Look(look) => !matches!(look, Look::WordAsciiNegate | Look::WordUnicodeNegate),
        HirKind::Class(c) => !class_has_word_char(c),
        HirKind::Repetition(r) => r.min >= 1 && is_boundary(&r.sub),
        HirKind::Capture(c) => is_boundary(&c.sub),
        _ => false,
    }
}

fn class_has_word_char(c: &Class) -> bool {
    let word = |lo: u32, hi: u32| {
        let ascii = [(b'0', b'9'), (b'A', b'Z'), (b'a', b'z'), (b'_', b'_')];
        if ascii.iter().any(|&(a, b)| lo <= b as u32 && hi >= a as u32) {
            return true;
        }
        if hi < 0x80 {
            return false;
        }
        // Small non-ASCII ranges (the spaces of `\s`) are checked; large ones may hold letters.
        hi - lo.max(0x80) > 512
            || (lo.max(0x80)..=hi).any(|c| char::from_u32(c).is_some_and(char::is_alphanumeric))
    };
    match c {
        Class::Unicode(u) => u
            .ranges()
            .iter()
            .any(|r| word(r.start() as u32, r.end() as u32)),
        Class::Bytes(b) => b
            .ranges()
            .iter()
            .any(|r| word(r.start() as u32, r.end() as u32)),
    }
}

/// Identifiers in `seq` whose neighbours on both sides are known non-word characters.
fn tokens_of(seq: &str, out: &mut Vec<String>) {
    let mut pos = 0;
    while let Some((s, e)) = next_identifier(seq, pos) {
        pos = e;
        let left = seq[..s].chars().next_back();
        let right = seq[e..].chars().next();
        let bounded = |c: Option<char>| c.is_some_and(|c| c != UNKNOWN);
        if bounded(left) && bounded(right) && e - s <= 128 {
            out.push(lower(&seq[s..e]));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(p: &str) -> Vec<String> {
        required_tokens(&parse(p).unwrap())
    }

    #[test]
    fn finds_identifiers_bounded_on_both_sides() {
        assert_eq!(req(r"fn\s+parse_\w+"), Vec::<String>::new());
        assert_eq!(req(r"\bfn\s+parse_\w+"), ["fn"]);
        assert_eq!(req(r"impl\s+Display\s+for"), ["display"]);
        assert_eq!(req(r"^impl\s+Display\s+for\b"), ["display", "for", "impl"]);
        assert_eq!(req(r"\bfoo_bar\("), ["foo_bar"]);
        assert_eq!(req(r"foo.bar"), Vec::<String>::new());
        assert_eq!(req(r"(?i)\bhello\b"), Vec::<String>::new());
        assert_eq!(req(r"\b(alpha|beta)\b"), Vec::<String>::new());
        assert_eq!(req(r"x = (\bneedle\b)+"), ["needle"]);
    }

    #[test]
    fn errors_name_the_position() {
        let e = parse("foo(bar").unwrap_err().to_string();
        assert!(e.contains("character 4"), "{e}");
        let e = parse("ab[z-a]").unwrap_err().to_string();
        assert!(e.contains("character"), "{e}");
        let e = parse("abc)").unwrap_err().to_string();
        assert!(e.contains("character 4"), "{e}");
    }
}
