//! Symbol names as an assistant writes them: as they appear in code (`pub fn block_on`,
//! `def parse(self, text)`), qualified by a type (`Store::open`,
//! `tornado.httpclient.AsyncHTTPClient.fetch`) or by a module (`httpclient.fetch`). One
//! reading for `read_code`, `find_symbol`, `find_references` and the context bundles' anchors.

use crate::symbols::SymbolKind;

/// Words that open a definition in the languages we read (`pub fn`, `async def`, `export
/// default class`...): a name asked for as it is written in code (`fn block_on`) is the
/// name after them.
const DEFINITION_KEYWORDS: &[&str] = &[
    "abstract",
    "async",
    "class",
    "const",
    "def",
    "default",
    "enum",
    "export",
    "extern",
    "final",
    "fn",
    "func",
    "function",
    "impl",
    "inline",
    "interface",
    "internal",
    "let",
    "macro_rules!",
    "mod",
    "module",
    "namespace",
    "override",
    "package",
    "private",
    "protected",
    "pub",
    "pub(crate)",
    "pub(super)",
    "public",
    "record",
    "sealed",
    "static",
    "struct",
    "trait",
    "type",
    "typedef",
    "union",
    "unsafe",
    "val",
    "var",
    "virtual",
];

/// Whether `word` opens a definition (see [`DEFINITION_KEYWORDS`]).
pub(crate) fn is_definition_keyword(word: &str) -> bool {
    DEFINITION_KEYWORDS.contains(&word)
}

/// The definition keywords written before a name, and what follows them (`pub fn
/// block_on` -> `pub`, `fn` and `block_on`). A lone keyword is a name (`type`).
fn split_keywords(given: &str) -> (Vec<&str>, &str) {
    let mut s = given.trim();
    let mut keywords = Vec::new();
    while let Some((first, rest)) = s.split_once(char::is_whitespace) {
        let rest = rest.trim_start();
        if rest.is_empty() || !is_definition_keyword(first) {
            break;
        }
        keywords.push(first);
        s = rest;
    }
    (keywords, s)
}

/// A name as an assistant may write it, as it appears in code: `pub fn block_on` ->
/// `block_on`, `def parse(self, text)` -> `parse`, `Store::open()` -> `Store::open`. A lone
/// keyword is a name (`type`).
pub fn name_as_written(given: &str) -> &str {
    let (_, s) = split_keywords(given);
    match s.find('(') {
        Some(i) if i > 0 => s[..i].trim_end(),
        _ => s,
    }
}

/// The kinds of definition the keywords written before a name ask for (`class Script`: a
/// class; `fn open`: a function or method), from the last keyword that says; empty when
/// none does (`pub`, `export`) or no keyword was written.
pub fn kinds_written(given: &str) -> Vec<SymbolKind> {
    use SymbolKind as K;
    let (keywords, _) = split_keywords(given);
    keywords
        .iter()
        .rev()
        .map(|k| -> &[SymbolKind] {
            match *k {
                "class" | "record" => &[K::Class],
                "struct" | "union" => &[K::Struct],
                "enum" => &[K::Enum],
                "trait" => &[K::Trait],
                "interface" => &[K::Interface],
                "fn" | "def" | "func" | "function" => &[K::Function, K::Method],
                "mod" | "module" | "namespace" | "package" => &[K::Module],
                "type" | "typedef" => &[K::Type],
                "const" => &[K::Constant],
                "macro_rules!" => &[K::Macro],
                "impl" => &[K::Impl],
                _ => &[],
            }
        })
        .find(|said| !said.is_empty())
        .map(<[SymbolKind]>::to_vec)
        .unwrap_or_default()
}

/// A symbol name as asked for, read by [`name_as_written`]: the name and its qualifier's parts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SymbolName<'a> {
    /// The qualifier's parts (`a::B.c` -> `a`, `B`, `c`); empty when unqualified.
    pub qualifier: Vec<&'a str>,
    /// The name itself.
    pub name: &'a str,
}

impl<'a> SymbolName<'a> {
    /// Read `given`: `pub fn open` -> `open`; `store::Store::open()` -> `open` in `store`,
    /// `Store`; `x.y` -> `y` in `x`.
    pub fn parse(given: &'a str) -> Self {
        let written = name_as_written(given);
        let cut = written
            .rfind("::")
            .map(|i| (i, 2))
            .or_else(|| written.rfind('.').map(|i| (i, 1)));
        match cut {
            Some((i, w)) if i > 0 && i + w < written.len() => SymbolName {
                qualifier: parts(&written[..i]),
                name: &written[i + w..],
            },
            _ => SymbolName {
                qualifier: Vec::new(),
                name: written,
            },
        }
    }

    /// Whether a definition of [`SymbolName::name`] inside `container` (`None` at the top
    /// level) in the file at `rel` is one this names: the qualifier, less the parts that name
    /// the file's own path (its module: `httpclient.fetch` in `tornado/httpclient.py`), is
    /// empty, or it and the container's parts end with one another, part for part
    /// (`tornado.httpclient.AsyncHTTPClient` is `AsyncHTTPClient`, not `HTTPClient`).
    pub fn in_container(&self, container: Option<&str>, rel: &str) -> bool {
        let in_path: Vec<&str> = rel
            .split('/')
            .map(|p| p.split('.').next().unwrap_or(p))
            .collect();
        let wanted: Vec<&str> = self
            .qualifier
            .iter()
            .copied()
            .filter(|p| !in_path.contains(p))
            .collect();
        if wanted.is_empty() {
            return true;
        }
        let have = container.map(parts).unwrap_or_default();
        !have.is_empty() && (have.ends_with(&wanted) || wanted.ends_with(&have))
    }
}

/// The parts of a qualified name: `a::B.c` -> `a`, `B`, `c`.
fn parts(qualified: &str) -> Vec<&str> {
    qualified
        .split([':', '.'])
        .filter(|p| !p.is_empty())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_name_written_as_in_code_is_the_name() {
        assert_eq!(name_as_written("fn block_on"), "block_on");
        assert_eq!(name_as_written("  pub(crate) async fn run  "), "run");
        assert_eq!(name_as_written("def parse(self, text):"), "parse");
        assert_eq!(name_as_written("export default class Shape"), "Shape");
        assert_eq!(name_as_written("Store::open()"), "Store::open");
        assert_eq!(name_as_written("type"), "type");
        assert_eq!(name_as_written("fn"), "fn");
        // Not a keyword: left for the caller to refuse as two words.
        assert_eq!(name_as_written("block on"), "block on");
    }

    #[test]
    fn keywords_say_the_kind_asked_for() {
        use SymbolKind as K;
        assert_eq!(kinds_written("class Script"), [K::Class]);
        assert_eq!(kinds_written("pub fn open()"), [K::Function, K::Method]);
        assert_eq!(kinds_written("export default class Shape"), [K::Class]);
        assert_eq!(kinds_written("pub struct Store"), [K::Struct]);
        assert!(kinds_written("export Shape").is_empty());
        assert!(kinds_written("Store::open").is_empty());
        assert!(kinds_written("class").is_empty());
    }

    #[test]
    fn qualified_names_split() {
        let split = |s| {
            let n = SymbolName::parse(s);
            (n.qualifier.last().copied(), n.name)
        };
        assert_eq!(split("Store::open"), (Some("Store"), "open"));
        assert_eq!(split("a::Store::open"), (Some("Store"), "open"));
        assert_eq!(split("Client.get"), (Some("Client"), "get"));
        assert_eq!(split("plain"), (None, "plain"));
        assert_eq!(split("Store::"), (None, "Store::"));
    }

    #[test]
    fn a_qualifier_names_the_container_part_for_part_or_the_files_module() {
        let n = SymbolName::parse("tornado.httpclient.AsyncHTTPClient.fetch");
        assert_eq!(n.name, "fetch");
        let rel = "tornado/httpclient.py";
        assert!(n.in_container(Some("AsyncHTTPClient"), rel));
        assert!(!n.in_container(Some("HTTPClient"), rel));
        assert!(!n.in_container(None, rel));
        let n = SymbolName::parse("httpclient.fetch");
        assert!(n.in_container(None, rel));
        assert!(n.in_container(Some("HTTPClient"), rel));
        assert!(!n.in_container(None, "other.py"));
        let n = SymbolName::parse("pub fn Store::open()");
        assert_eq!((n.qualifier.as_slice(), n.name), (&["Store"][..], "open"));
        assert!(n.in_container(Some("Store"), "src/lib.rs"));
        assert!(n.in_container(Some("db::Store"), "src/lib.rs"));
        assert!(!n.in_container(Some("Shop"), "src/lib.rs"));
        assert!(!n.in_container(Some(""), "src/lib.rs"));
        let n = SymbolName::parse("open");
        assert!(n.qualifier.is_empty());
        assert!(n.in_container(Some("Anything"), "x.rs"));
    }
}
