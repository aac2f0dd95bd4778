//! Symbol extraction with tree-sitter: functions, methods, classes, structs, enums, traits,
//! interfaces, modules, constants, types and macros, each with its container, signature line
//! and line span.
//!
//! This module parses one file at a time and knows nothing of the index or the file system
//! beyond [`language_for_path`]; the index calls [`extract`] for every file it stores, and
//! callers that need symbols of a single file (outline, the context engine) call it directly.
//! Which nodes are definitions is decided per language: `langs` for Rust, Python, JS/TS, Go
//! and Java, `c_family` for C and C++.

use std::cell::RefCell;
use std::collections::HashMap;
use std::fmt;
use std::path::Path;
use std::str::FromStr;
use std::sync::OnceLock;

use serde::{Deserialize, Serialize};
use tree_sitter::{Node, Parser, TreeCursor};

mod alloc;
pub(crate) use alloc::release_thread_memory;
mod c_family;
mod langs;
pub(crate) mod shapes;

/// A language whose symbols we can extract.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Language {
    Rust,
    Python,
    JavaScript,
    TypeScript,
    Tsx,
    Go,
    Java,
    C,
    Cpp,
}

impl Language {
    /// Every language, in a stable order.
    pub const ALL: [Language; 9] = [
        Language::Rust,
        Language::Python,
        Language::JavaScript,
        Language::TypeScript,
        Language::Tsx,
        Language::Go,
        Language::Java,
        Language::C,
        Language::Cpp,
    ];

    /// The language of a name given by [`Language::name`].
    pub fn from_name(name: &str) -> Option<Language> {
        Language::ALL.into_iter().find(|l| l.name() == name)
    }

    /// The name used in results and accepted in `language` filters.
    pub fn name(self) -> &'static str {
        match self {
            Language::Rust => "rust",
            Language::Python => "python",
            Language::JavaScript => "javascript",
            Language::TypeScript => "typescript",
            Language::Tsx => "tsx",
            Language::Go => "go",
            Language::Java => "java",
            Language::C => "c",
            Language::Cpp => "cpp",
        }
    }

    fn grammar(self) -> tree_sitter::Language {
        match self {
            Language::Rust => tree_sitter_rust::LANGUAGE.into(),
            Language::Python => tree_sitter_python::LANGUAGE.into(),
            Language::JavaScript => tree_sitter_javascript::LANGUAGE.into(),
            Language::TypeScript => tree_sitter_typescript::LANGUAGE_TYPESCRIPT.into(),
            Language::Tsx => tree_sitter_typescript::LANGUAGE_TSX.into(),
            Language::Go => tree_sitter_go::LANGUAGE.into(),
            Language::Java => tree_sitter_java::LANGUAGE.into(),
            Language::C => tree_sitter_c::LANGUAGE.into(),
            Language::Cpp => tree_sitter_cpp::LANGUAGE.into(),
        }
    }
}

/// Node kind names by kind id, per language ([`Language`] order). `Node::kind` asks
/// tree-sitter for the name and measures it and checks it as UTF-8 on every call; a walk asks
/// for several nodes' kinds per node.
static KIND_NAMES: [OnceLock<Vec<String>>; Language::ALL.len()] =
    [const { OnceLock::new() }; Language::ALL.len()];

/// `node.kind()`, from [`KIND_NAMES`].
fn kind_name(lang: Language, node: Node<'_>) -> &'static str {
    let names = KIND_NAMES[lang as usize].get_or_init(|| {
        let grammar = lang.grammar();
        (0..grammar.node_kind_count())
            .map(|id| {
                u16::try_from(id)
                    .ok()
                    .and_then(|id| grammar.node_kind_for_id(id))
                    .unwrap_or_default()
                    .to_string()
            })
            .collect()
    });
    match names.get(usize::from(node.kind_id())) {
        Some(name) => name,
        // ERROR nodes' id is past the grammar's kinds.
        None if node.is_error() => "ERROR",
        None => "",
    }
}

impl fmt::Display for Language {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The language of a file, judged by its extension. Headers (`.h`) count as C; use
/// [`language_for_source`] to let the content decide between C and C++.
pub fn language_for_path(path: &Path) -> Option<Language> {
    let ext = path.extension()?.to_str()?.to_ascii_lowercase();
    Some(match ext.as_str() {
        "rs" => Language::Rust,
        "py" | "pyi" | "pyw" => Language::Python,
        "js" | "jsx" | "mjs" | "cjs" => Language::JavaScript,
        "ts" | "mts" | "cts" => Language::TypeScript,
        "tsx" => Language::Tsx,
        "go" => Language::Go,
        "java" => Language::Java,
        "c" | "h" => Language::C,
        "cc" | "cpp" | "cxx" | "c++" | "hh" | "hpp" | "hxx" | "h++" | "ipp" | "tpp" | "inl" => {
            Language::Cpp
        }
        _ => return None,
    })
}

/// Like [`language_for_path`], but a `.h` header that uses C++ syntax counts as C++.
pub fn language_for_source(path: &Path, source: &str) -> Option<Language> {
    let lang = language_for_path(path)?;
    let is_header = path
        .extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e.eq_ignore_ascii_case("h"));
    if lang == Language::C && is_header && looks_like_cpp(source) {
        return Some(Language::Cpp);
    }
    Some(lang)
}

fn looks_like_cpp(source: &str) -> bool {
    source.lines().take(2000).any(|l| {
        let t = l.trim_start();
        t.starts_with("class ")
            || t.starts_with("namespace ")
            || t.starts_with("template<")
            || t.starts_with("template <")
            || t.starts_with("public:")
            || t.starts_with("private:")
    })
}

/// What a symbol is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SymbolKind {
    Function,
    Method,
    Class,
    Struct,
    Enum,
    Trait,
    Interface,
    Module,
    Constant,
    Type,
    Macro,
    Impl,
}

impl SymbolKind {
    pub const ALL: [SymbolKind; 12] = [
        SymbolKind::Function,
        SymbolKind::Method,
        SymbolKind::Class,
        SymbolKind::Struct,
        SymbolKind::Enum,
        SymbolKind::Trait,
        SymbolKind::Interface,
        SymbolKind::Module,
        SymbolKind::Constant,
        SymbolKind::Type,
        SymbolKind::Macro,
        SymbolKind::Impl,
    ];

    pub fn name(self) -> &'static str {
        match self {
            SymbolKind::Function => "function",
            SymbolKind::Method => "method",
            SymbolKind::Class => "class",
            SymbolKind::Struct => "struct",
            SymbolKind::Enum => "enum",
            SymbolKind::Trait => "trait",
            SymbolKind::Interface => "interface",
            SymbolKind::Module => "module",
            SymbolKind::Constant => "constant",
            SymbolKind::Type => "type",
            SymbolKind::Macro => "macro",
            SymbolKind::Impl => "impl",
        }
    }

    /// Kinds whose members are methods rather than free functions.
    fn is_type_like(self) -> bool {
        matches!(
            self,
            SymbolKind::Class
                | SymbolKind::Struct
                | SymbolKind::Enum
                | SymbolKind::Trait
                | SymbolKind::Interface
                | SymbolKind::Impl
        )
    }
}

impl fmt::Display for SymbolKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A symbol kind name that is not one of [`SymbolKind::ALL`].
#[derive(Debug, Clone, thiserror::Error)]
#[error("kind `{given}` is not a symbol kind; accepted: {}", SymbolKind::ALL.map(|k| k.name()).join(", "))]
pub struct UnknownKind {
    pub given: String,
}

impl FromStr for SymbolKind {
    type Err = UnknownKind;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let t = s.trim().to_ascii_lowercase();
        SymbolKind::ALL
            .into_iter()
            .find(|k| k.name() == t)
            .ok_or(UnknownKind {
                given: s.to_string(),
            })
    }
}

/// One definition found in a file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Symbol {
    pub name: String,
    pub kind: SymbolKind,
    /// The enclosing class, impl, trait, module or function, when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub container: Option<String>,
    /// The source line that names the symbol, trimmed (at most 240 characters).
    pub signature: String,
    /// First line of the definition, 1-based.
    pub line: u32,
    /// Last line of the definition, 1-based, inclusive.
    pub end_line: u32,
    /// A declaration without a body (a C++ method declared in its class and defined
    /// elsewhere, a Rust `mod name;`, a TypeScript overload or interface method): it ranks
    /// after the definition of the same name.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub declaration: bool,
}

thread_local! {
    static PARSERS: RefCell<Vec<(Language, Parser)>> = const { RefCell::new(Vec::new()) };
}

/// Parse `source` as `language` and return its symbols in source order.
///
/// Syntax errors do not fail extraction: tree-sitter recovers and whatever parsed is used.
///
/// ```
/// use apex_search::symbols::{extract, Language, SymbolKind};
/// let syms = extract(Language::Rust, "struct Point;\nimpl Point { fn norm(&self) {} }\n");
/// assert_eq!(syms[2].name, "norm");
/// assert_eq!(syms[2].kind, SymbolKind::Method);
/// assert_eq!(syms[2].container.as_deref(), Some("Point"));
/// ```
pub fn extract(language: Language, source: &str) -> Vec<Symbol> {
    with_parser(language, Vec::new(), |parser| {
        extract_with(parser, language, source, 0)
    })
}

/// Run `f` with this thread's parser for `language` (`otherwise` when it cannot be had).
fn with_parser<T>(language: Language, otherwise: T, f: impl FnOnce(&mut Parser) -> T) -> T {
    PARSERS.with(|cell| {
        let mut parsers = cell.borrow_mut();
        let idx = match parsers.iter().position(|(l, _)| *l == language) {
            Some(i) => i,
            None => {
                alloc::install();
                let mut parser = Parser::new();
                if parser.set_language(&language.grammar()).is_err() {
                    return otherwise;
                }
                parsers.push((language, parser));
                parsers.len() - 1
            }
        };
        f(&mut parsers[idx].1)
    })
}

/// Parse `source` and drop the tree: tree-sitter's own cost for a file, without extraction.
/// Benchmarks measure the symbol pass against this yardstick. Returns whether it parsed.
pub fn parse_only(language: Language, source: &str) -> bool {
    with_parser(language, false, |parser| {
        parser.parse(source, None).is_some()
    })
}

/// Definitions recovered by shape in one file at most (a file that does not parse at all
/// is nearly always generated or not really code).
const MAX_RECOVERED: usize = 2000;

/// How deep item-level macro blocks are parsed again (`cfg_rt! { cfg_net! { … } }`).
const MACRO_DEPTH: u8 = 2;

fn extract_with(parser: &mut Parser, language: Language, source: &str, depth: u8) -> Vec<Symbol> {
    let parsed = match language {
        Language::C | Language::Cpp => c_family::blank_macros(source),
        _ => std::borrow::Cow::Borrowed(source),
    };
    let Some(tree) = parser.parse(parsed.as_ref(), None) else {
        return Vec::new();
    };
    let mut walker = Walker {
        lang: language,
        src: source.as_bytes(),
        line_starts: None,
        out: Vec::new(),
        errors: Vec::new(),
        macro_blocks: Vec::new(),
    };
    walker.walk(tree.root_node());
    drop(tree);
    let mut added = false;
    if depth < MACRO_DEPTH {
        for block in std::mem::take(&mut walker.macro_blocks) {
            let inner = source.get(block.start..block.end).unwrap_or_default();
            for mut s in extract_with(parser, language, inner, depth + 1) {
                let row = s.line as usize - 1 + block.row;
                s.end_line += block.row as u32;
                s.line = row as u32 + 1;
                if s.line as usize == block.row + 1 {
                    s.signature = walker.line_text(row, None);
                }
                if s.container.is_none() {
                    s.container = block.container.clone();
                    if s.kind == SymbolKind::Function
                        && block.container_kind.is_some_and(SymbolKind::is_type_like)
                    {
                        s.kind = SymbolKind::Method;
                    }
                }
                walker.out.push(s);
                added = true;
            }
        }
    }
    added |= walker.recover(source);
    if added {
        walker.out.sort_by_key(|s| s.line);
    }
    walker.out
}

/// A definition recognised at one node.
struct Def {
    name: String,
    kind: SymbolKind,
    /// Overrides the enclosing container (C++ `Foo::bar`, Go receivers).
    container: Option<String>,
    /// The node whose line carries the name, for the signature.
    name_row: usize,
}

struct Walker<'s> {
    lang: Language,
    src: &'s [u8],
    line_starts: Option<Vec<usize>>,
    out: Vec<Symbol>,
    /// Row ranges of the regions the parse gave up on (ERROR nodes), outermost only.
    errors: Vec<(usize, usize)>,
    /// Rust item-level macro blocks to parse again as items.
    macro_blocks: Vec<MacroBlock>,
}

/// The inside of `name! { … }` at item level, which may define items.
struct MacroBlock {
    /// Byte range of the text between the braces.
    start: usize,
    end: usize,
    /// The row where that text starts.
    row: usize,
    container: Option<String>,
    container_kind: Option<SymbolKind>,
}

/// An open definition on the walk's stack: children see it as their container.
struct Open {
    depth: usize,
    name: String,
    kind: SymbolKind,
}

impl<'s> Walker<'s> {
    fn walk(&mut self, root: Node<'_>) {
        let mut cursor = root.walk();
        let mut stack: Vec<Open> = Vec::new();
        let mut depth = 0usize;
        loop {
            let node = cursor.node();
            let mut descend = true;
            if node.is_error() {
                let (from, to) = (node.start_position().row, node.end_position().row);
                match self.errors.last_mut() {
                    Some((_, end)) if *end >= from => *end = (*end).max(to),
                    _ => self.errors.push((from, to)),
                }
            } else if self.lang == Language::Rust && self.kind(node) == "macro_invocation" {
                self.macro_block(node, stack.last());
            }
            if node.is_named() {
                let parent = stack.last().map(|o| (o.name.as_str(), o.kind));
                if let Some(def) = self.classify(node, parent) {
                    let container = def
                        .container
                        .clone()
                        .or_else(|| stack.last().map(|o| o.name.clone()));
                    self.push_symbol(node, &def, container);
                    stack.push(Open {
                        depth,
                        name: def.name,
                        kind: def.kind,
                    });
                } else if skip_subtree(self.lang, self.kind(node)) {
                    descend = false;
                }
            }
            if descend && cursor.goto_first_child() {
                depth += 1;
                continue;
            }
            // Leave this node (and every ancestor that has no next sibling).
            loop {
                while stack.last().is_some_and(|o| o.depth >= depth) {
                    stack.pop();
                }
                if cursor.goto_next_sibling() {
                    break;
                }
                if !cursor.goto_parent() {
                    return;
                }
                depth -= 1;
            }
        }
    }

    fn push_symbol(&mut self, node: Node<'_>, def: &Def, container: Option<String>) {
        let start = node.start_position().row;
        let end = node.end_position();
        let mut end_row = end.row;
        if end.column == 0 && end_row > start {
            end_row -= 1;
        }
        let from = (node.start_position().row == def.name_row).then(|| node.start_byte());
        let signature = self.line_text(def.name_row, from);
        // Of the C family's bodiless heads only those declared in a class are symbols; a
        // Rust `mod name;` declares a module whose body is its own file.
        let declaration = match self.lang {
            Language::C | Language::Cpp => {
                matches!(self.kind(node), "field_declaration" | "declaration")
            }
            Language::Rust => {
                self.kind(node) == "mod_item" && node.child_by_field_name("body").is_none()
            }
            // An overload's signature, an interface's method, an abstract method: the body
            // is elsewhere (rxjs declares `mergeMap` four times before defining it).
            Language::JavaScript | Language::TypeScript | Language::Tsx => matches!(
                self.kind(node),
                "function_signature" | "method_signature" | "abstract_method_signature"
            ),
            _ => false,
        };
        self.out.push(Symbol {
            name: def.name.clone(),
            kind: def.kind,
            container,
            signature,
            line: start as u32 + 1,
            end_line: end_row as u32 + 1,
            declaration,
        });
    }

    /// The trimmed text of line `row` (at most 240 characters). A long line (minified code)
    /// is shown from `from`, the byte where the definition starts, when known.
    fn line_text(&mut self, row: usize, from: Option<usize>) -> String {
        const WINDOW: usize = 1024;
        let src = self.src;
        let starts = self.line_starts.get_or_insert_with(|| {
            let mut v = vec![0];
            v.extend(memchr_newlines(src).map(|i| i + 1));
            v
        });
        let Some(&line_start) = starts.get(row) else {
            return String::new();
        };
        let to = starts
            .get(row + 1)
            .map(|&e| e.saturating_sub(1))
            .unwrap_or(src.len())
            .max(line_start);
        let mut start = line_start;
        if to - line_start > WINDOW
            && let Some(f) = from.filter(|f| (line_start..to).contains(f))
        {
            start = f;
        }
        let end = to.min(start + WINDOW);
        let text = String::from_utf8_lossy(&src[start..end]);
        apex_core::events::truncate_chars(text.trim(), 240)
    }

    /// Remember an item-level `name! { … }` whose block may hold items, to parse it again.
    fn macro_block(&mut self, node: Node<'_>, open: Option<&Open>) {
        let item_level = node
            .parent()
            .is_some_and(|p| matches!(p.kind(), "source_file" | "declaration_list"));
        let Some(tt) = node
            .named_child(node.named_child_count().saturating_sub(1) as u32)
            .filter(|n| n.kind() == "token_tree")
        else {
            return;
        };
        let (start, end) = (tt.start_byte() + 1, tt.end_byte().saturating_sub(1));
        if !item_level || self.src.get(tt.start_byte()) != Some(&b'{') || end <= start {
            return;
        }
        let inner = &self.src[start..end];
        let has_items = [
            &b"fn "[..],
            b"struct ",
            b"enum ",
            b"trait ",
            b"impl",
            b"mod ",
            b"const ",
            b"static ",
            b"type ",
            b"macro_rules!",
        ]
        .iter()
        .any(|k| inner.windows(k.len()).any(|w| w == *k));
        if has_items {
            self.macro_blocks.push(MacroBlock {
                start,
                end,
                row: tt.start_position().row,
                container: open.map(|o| o.name.clone()),
                container_kind: open.map(|o| o.kind),
            });
        }
    }

    /// Definitions by their shape inside the regions the parse gave up on, when the parse did
    /// not find them already. Returns whether any was added.
    fn recover(&mut self, source: &str) -> bool {
        if self.errors.is_empty() {
            return false;
        }
        let lines = crate::query::split_lines(source);
        // Spans of what the parse found, by name: a shape there is already known.
        let mut known: HashMap<&str, Vec<(u32, u32)>> = HashMap::new();
        for s in &self.out {
            known
                .entry(s.name.as_str())
                .or_default()
                .push((s.line, s.end_line));
        }
        let mut found = Vec::new();
        'regions: for &(from, to) in &self.errors {
            for row in from..=to.min(lines.len().saturating_sub(1)) {
                let Some(shape) = shapes::classify(&lines, row) else {
                    continue;
                };
                let line = row as u32 + 1;
                let is_known = known
                    .get(shape.name.as_str())
                    .is_some_and(|spans| spans.iter().any(|&(a, b)| a <= line && line <= b));
                if is_known {
                    continue;
                }
                let end = shapes::block_end(&lines, row, 20_000);
                found.push((shape, row, end));
                if found.len() >= MAX_RECOVERED {
                    break 'regions;
                }
            }
        }
        let found: Vec<_> = found
            .into_iter()
            .map(|(shape, row, end)| {
                let line = row as u32 + 1;
                let enclosing = self
                    .out
                    .iter()
                    .filter(|s| s.line < line && line <= s.end_line)
                    .min_by_key(|s| s.end_line - s.line);
                let kind = match enclosing {
                    Some(e) if shape.kind == SymbolKind::Function && e.kind.is_type_like() => {
                        SymbolKind::Method
                    }
                    _ => shape.kind,
                };
                let container = shape
                    .container
                    .clone()
                    .or_else(|| enclosing.map(|e| e.name.clone()));
                (shape.name, kind, container, row, end)
            })
            .collect();
        let added = !found.is_empty();
        for (name, kind, container, row, end) in found {
            let signature = self.line_text(row, None);
            self.out.push(Symbol {
                name,
                kind,
                container,
                signature,
                line: row as u32 + 1,
                end_line: end as u32 + 1,
                declaration: false,
            });
        }
        added
    }

    fn text(&self, node: Node<'_>) -> &'s str {
        node.utf8_text(self.src).unwrap_or("")
    }

    fn field_text(&self, node: Node<'_>, field: &str) -> Option<(String, usize)> {
        let n = node.child_by_field_name(field)?;
        let t = self.text(n).trim();
        (!t.is_empty()).then(|| (t.to_string(), n.start_position().row))
    }

    fn def(&self, node: Node<'_>, field: &str, kind: SymbolKind) -> Option<Def> {
        let (name, name_row) = self.field_text(node, field)?;
        Some(Def {
            name,
            kind,
            container: None,
            name_row,
        })
    }

    /// A function is a method when its innermost container is type-like.
    fn fn_kind(parent: Option<(&str, SymbolKind)>) -> SymbolKind {
        match parent {
            Some((_, k)) if k.is_type_like() => SymbolKind::Method,
            _ => SymbolKind::Function,
        }
    }

    /// The node's kind name (as `Node::kind` gives it, without asking tree-sitter).
    fn kind(&self, node: Node<'_>) -> &'static str {
        kind_name(self.lang, node)
    }

    fn classify(&self, node: Node<'_>, parent: Option<(&str, SymbolKind)>) -> Option<Def> {
        match self.lang {
            Language::Rust => self.rust(node, parent),
            Language::Python => self.python(node, parent),
            Language::JavaScript | Language::TypeScript | Language::Tsx => self.js(node, parent),
            Language::Go => self.go(node),
            Language::Java => self.java(node, parent),
            Language::C | Language::Cpp => self.c_family(node, parent),
        }
    }
}

/// Subtrees that never hold definitions we report; skipping them saves walk time.
fn skip_subtree(lang: Language, kind: &str) -> bool {
    if kind == "arguments" {
        // A JavaScript module is often one call's argument: AMD's `define([…], (require) =>
        // {…})`, UMD factories, a bundle's module table, a test suite's `describe("…", () =>
        // {…})`. Their functions and classes are definitions like any other.
        return !matches!(
            lang,
            Language::JavaScript | Language::TypeScript | Language::Tsx
        );
    }
    matches!(
        kind,
        "string"
            | "string_literal"
            | "raw_string_literal"
            | "comment"
            | "line_comment"
            | "block_comment"
            | "template_string"
            | "argument_list"
            | "parameters"
            | "formal_parameters"
            | "parameter_list"
            | "token_tree"
            | "attribute_item"
            | "use_declaration"
            | "import_statement"
            | "import_declaration"
    )
}

fn visit_all<'t>(cursor: &mut TreeCursor<'t>, f: &mut impl FnMut(Node<'t>)) {
    f(cursor.node());
    if cursor.goto_first_child() {
        loop {
            visit_all(cursor, f);
            if !cursor.goto_next_sibling() {
                break;
            }
        }
        cursor.goto_parent();
    }
}

fn memchr_newlines(src: &[u8]) -> impl Iterator<Item = usize> + '_ {
    src.iter()
        .enumerate()
        .filter_map(|(i, &b)| (b == b'\n').then_some(i))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn languages_by_path_and_content() {
        assert_eq!(language_for_path(Path::new("a/b.rs")), Some(Language::Rust));
        assert_eq!(language_for_path(Path::new("x.TSX")), Some(Language::Tsx));
        assert_eq!(language_for_path(Path::new("README.md")), None);
        assert_eq!(language_for_path(Path::new("Makefile")), None);
        assert_eq!(
            language_for_source(Path::new("a.h"), "namespace x {}\n"),
            Some(Language::Cpp)
        );
        assert_eq!(
            language_for_source(Path::new("a.h"), "int f(void);\n"),
            Some(Language::C)
        );
    }

    #[test]
    fn kinds_parse_with_helpful_errors() {
        assert_eq!("Method".parse::<SymbolKind>().unwrap(), SymbolKind::Method);
        let err = "func".parse::<SymbolKind>().unwrap_err().to_string();
        assert!(
            err.contains("`func`") && err.contains("function, method"),
            "{err}"
        );
    }

    #[test]
    fn kind_names_are_the_nodes_own_in_every_language() {
        let sources = [
            (
                Language::Rust,
                "mod m { fn f() -> u8 { 1 } }\nimpl S { fn broken( {\n",
            ),
            (
                Language::Python,
                "class A:\n    def f(self): return [x for x in y]\nif (:\n",
            ),
            (
                Language::JavaScript,
                "class A { m() { return `t${1}`; } }\nfunction (",
            ),
            (
                Language::TypeScript,
                "interface I { x: number }\nlet y: I = {x: 1} as I;",
            ),
            (Language::Tsx, "const C = () => <div a={1}>t</div>;\n"),
            (
                Language::Go,
                "package p\nfunc (r *R) M() error { return nil }\nfunc (",
            ),
            (
                Language::Java,
                "class A { @Override void m() { int[] a = {1}; } }",
            ),
            (
                Language::C,
                "#define X 1\nstruct s { int a; };\nint f(void) { return X; }",
            ),
            (
                Language::Cpp,
                "namespace n { template <class T> T f(T v) { return v; } }",
            ),
        ];
        for (lang, src) in sources {
            let mut parser = Parser::new();
            parser.set_language(&lang.grammar()).unwrap();
            let tree = parser.parse(src, None).unwrap();
            let mut checked = 0;
            visit_all(&mut tree.walk(), &mut |n| {
                assert_eq!(kind_name(lang, n), n.kind(), "{lang}: {n:?}");
                checked += 1;
            });
            assert!(checked > 10, "{lang}");
        }
    }

    #[test]
    fn broken_source_still_yields_what_parsed() {
        let syms = extract(Language::Rust, "fn ok() {}\nfn broken( {\n");
        assert_eq!(syms[0].name, "ok");
    }
}
