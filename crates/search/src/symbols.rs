//! Symbol extraction with tree-sitter: functions, methods, classes, structs, enums, traits,
//! interfaces, modules, constants, types and macros, each with its container, signature line
//! and line span.
//!
//! This module parses one file at a time and knows nothing of the index or the file system
//! beyond [`language_for_path`]; the index calls [`extract`] for every file it stores, and
//! callers that need symbols of a single file (outline, the context engine) call it directly.

use std::cell::RefCell;
use std::fmt;
use std::path::Path;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use tree_sitter::{Node, Parser, TreeCursor};

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
    PARSERS.with(|cell| {
        let mut parsers = cell.borrow_mut();
        let idx = match parsers.iter().position(|(l, _)| *l == language) {
            Some(i) => i,
            None => {
                let mut parser = Parser::new();
                if parser.set_language(&language.grammar()).is_err() {
                    return Vec::new();
                }
                parsers.push((language, parser));
                parsers.len() - 1
            }
        };
        let parser = &mut parsers[idx].1;
        let Some(tree) = parser.parse(source, None) else {
            return Vec::new();
        };
        let mut walker = Walker {
            lang: language,
            src: source.as_bytes(),
            line_starts: None,
            out: Vec::new(),
        };
        walker.walk(tree.root_node());
        walker.out
    })
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
                } else if skip_subtree(node.kind()) {
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
        let signature = self.line_text(def.name_row);
        self.out.push(Symbol {
            name: def.name.clone(),
            kind: def.kind,
            container,
            signature,
            line: start as u32 + 1,
            end_line: end_row as u32 + 1,
        });
    }

    fn line_text(&mut self, row: usize) -> String {
        let src = self.src;
        let starts = self.line_starts.get_or_insert_with(|| {
            let mut v = vec![0];
            v.extend(memchr_newlines(src).map(|i| i + 1));
            v
        });
        let Some(&from) = starts.get(row) else {
            return String::new();
        };
        let to = starts
            .get(row + 1)
            .map(|&e| e.saturating_sub(1))
            .unwrap_or(src.len());
        let text = String::from_utf8_lossy(&src[from..to.max(from)]);
        apex_core::events::truncate_chars(text.trim(), 240)
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

    fn rust(&self, node: Node<'_>, parent: Option<(&str, SymbolKind)>) -> Option<Def> {
        use SymbolKind as K;
        match node.kind() {
            "function_item" | "function_signature_item" => {
                self.def(node, "name", Self::fn_kind(parent))
            }
            "struct_item" | "union_item" => self.def(node, "name", K::Struct),
            "enum_item" => self.def(node, "name", K::Enum),
            "trait_item" => self.def(node, "name", K::Trait),
            "mod_item" => self.def(node, "name", K::Module),
            "const_item" | "static_item" => self.def(node, "name", K::Constant),
            "type_item" => self.def(node, "name", K::Type),
            "macro_definition" => self.def(node, "name", K::Macro),
            "impl_item" => {
                let ty = node.child_by_field_name("type")?;
                let base = match ty.kind() {
                    "generic_type" => ty.child_by_field_name("type").unwrap_or(ty),
                    _ => ty,
                };
                let name = self.text(base).trim().to_string();
                (!name.is_empty()).then(|| Def {
                    name,
                    kind: K::Impl,
                    container: None,
                    name_row: ty.start_position().row,
                })
            }
            _ => None,
        }
    }

    fn python(&self, node: Node<'_>, parent: Option<(&str, SymbolKind)>) -> Option<Def> {
        match node.kind() {
            "function_definition" => self.def(node, "name", Self::fn_kind(parent)),
            "class_definition" => self.def(node, "name", SymbolKind::Class),
            "assignment" => {
                // Module- or class-level UPPER_CASE names are constants.
                if parent.is_some_and(|(_, k)| !k.is_type_like()) {
                    return None;
                }
                let stmt = node.parent()?;
                if stmt.kind() != "expression_statement" {
                    return None;
                }
                let in_scope = stmt
                    .parent()
                    .is_some_and(|p| matches!(p.kind(), "module" | "block"));
                let left = node.child_by_field_name("left")?;
                let name = self.text(left);
                (in_scope && left.kind() == "identifier" && is_constant_name(name)).then(|| Def {
                    name: name.to_string(),
                    kind: SymbolKind::Constant,
                    container: None,
                    name_row: left.start_position().row,
                })
            }
            _ => None,
        }
    }

    fn js(&self, node: Node<'_>, parent: Option<(&str, SymbolKind)>) -> Option<Def> {
        use SymbolKind as K;
        match node.kind() {
            "function_declaration"
            | "generator_function_declaration"
            | "function_signature"
            | "function_expression" => {
                // Named function expressions are only symbols when declared as statements.
                if node.kind() == "function_expression" {
                    return None;
                }
                self.def(node, "name", K::Function)
            }
            "class_declaration" | "abstract_class_declaration" | "class" => {
                if node.kind() == "class" {
                    return None;
                }
                self.def(node, "name", K::Class)
            }
            "method_definition" | "method_signature" | "abstract_method_signature" => {
                self.def(node, "name", K::Method)
            }
            "field_definition" | "public_field_definition" => {
                let value = node.child_by_field_name("value")?;
                if !is_js_function(value.kind()) {
                    return None;
                }
                let field = if node.kind() == "field_definition" {
                    "property"
                } else {
                    "name"
                };
                self.def(node, field, K::Method)
            }
            "interface_declaration" => self.def(node, "name", K::Interface),
            "type_alias_declaration" => self.def(node, "name", K::Type),
            "enum_declaration" => self.def(node, "name", K::Enum),
            "internal_module" | "module" => self.def(node, "name", K::Module),
            "variable_declarator" => {
                let name_node = node.child_by_field_name("name")?;
                if name_node.kind() != "identifier" {
                    return None;
                }
                let name = self.text(name_node);
                let is_fn = node
                    .child_by_field_name("value")
                    .is_some_and(|v| is_js_function(v.kind()));
                let decl = node.parent()?;
                let is_const = decl.kind() == "lexical_declaration"
                    && decl.child(0).is_some_and(|k| self.text(k) == "const");
                let top = parent.is_none_or(|(_, k)| k == K::Module);
                let kind = if is_fn {
                    if parent.is_some_and(|(_, k)| matches!(k, K::Function | K::Method)) {
                        return None;
                    }
                    K::Function
                } else if is_const && top && is_constant_name(name) {
                    K::Constant
                } else {
                    return None;
                };
                Some(Def {
                    name: name.to_string(),
                    kind,
                    container: None,
                    name_row: name_node.start_position().row,
                })
            }
            _ => None,
        }
    }

    fn go(&self, node: Node<'_>) -> Option<Def> {
        use SymbolKind as K;
        match node.kind() {
            "function_declaration" => self.def(node, "name", K::Function),
            "method_declaration" => {
                let mut def = self.def(node, "name", K::Method)?;
                def.container = node
                    .child_by_field_name("receiver")
                    .and_then(|r| self.last_type_identifier(r));
                Some(def)
            }
            "method_elem" | "method_spec" => self.def(node, "name", K::Method),
            "type_spec" | "type_alias" => {
                let kind = match node.child_by_field_name("type").map(|t| t.kind()) {
                    Some("struct_type") => K::Struct,
                    Some("interface_type") => K::Interface,
                    _ => K::Type,
                };
                self.def(node, "name", kind)
            }
            "const_spec" => self.def(node, "name", K::Constant),
            _ => None,
        }
    }

    fn last_type_identifier(&self, node: Node<'_>) -> Option<String> {
        let mut found = None;
        let mut cursor = node.walk();
        visit_all(&mut cursor, &mut |n| {
            if n.kind() == "type_identifier" {
                found = Some(self.text(n).to_string());
            }
        });
        found
    }

    fn java(&self, node: Node<'_>, parent: Option<(&str, SymbolKind)>) -> Option<Def> {
        use SymbolKind as K;
        match node.kind() {
            "class_declaration" | "record_declaration" => self.def(node, "name", K::Class),
            "interface_declaration" | "annotation_type_declaration" => {
                self.def(node, "name", K::Interface)
            }
            "enum_declaration" => self.def(node, "name", K::Enum),
            "method_declaration"
            | "constructor_declaration"
            | "compact_constructor_declaration" => self.def(node, "name", K::Method),
            "field_declaration" | "constant_declaration" => {
                let is_constant = node.kind() == "constant_declaration"
                    || parent.is_some_and(|(_, k)| k == K::Interface)
                    || (0..node.named_child_count()).any(|i| {
                        node.named_child(i as u32).is_some_and(|c| {
                            c.kind() == "modifiers" && {
                                let t = self.text(c);
                                t.contains("static") && t.contains("final")
                            }
                        })
                    });
                if !is_constant {
                    return None;
                }
                let declarator = node.child_by_field_name("declarator")?;
                self.def(declarator, "name", K::Constant)
            }
            _ => None,
        }
    }

    fn c_family(&self, node: Node<'_>, parent: Option<(&str, SymbolKind)>) -> Option<Def> {
        use SymbolKind as K;
        match node.kind() {
            "function_definition" => {
                let declarator = node.child_by_field_name("declarator")?;
                let (name, scope, row) = self.declarator_name(declarator)?;
                let kind = if scope.is_some() {
                    K::Method
                } else {
                    Self::fn_kind(parent)
                };
                Some(Def {
                    name,
                    kind,
                    container: scope,
                    name_row: row,
                })
            }
            "field_declaration" | "declaration" if self.lang == Language::Cpp => {
                // Method declarations inside a class body.
                if !parent.is_some_and(|(_, k)| k.is_type_like()) {
                    return None;
                }
                let declarator = node.child_by_field_name("declarator")?;
                if !has_function_declarator(declarator) {
                    return None;
                }
                let (name, _, row) = self.declarator_name(declarator)?;
                Some(Def {
                    name,
                    kind: K::Method,
                    container: None,
                    name_row: row,
                })
            }
            "struct_specifier" | "union_specifier" | "class_specifier" | "enum_specifier" => {
                node.child_by_field_name("body")?;
                let kind = match node.kind() {
                    "class_specifier" => K::Class,
                    "enum_specifier" => K::Enum,
                    _ => K::Struct,
                };
                match self.def(node, "name", kind) {
                    Some(d) => Some(d),
                    // `typedef struct { .. } Name;` takes the typedef's name.
                    None => {
                        let td = node.parent().filter(|p| p.kind() == "type_definition")?;
                        let declarator = td.child_by_field_name("declarator")?;
                        let (name, _, row) = self.declarator_name(declarator)?;
                        Some(Def {
                            name,
                            kind,
                            container: None,
                            name_row: row,
                        })
                    }
                }
            }
            "type_definition" => {
                let anonymous_body = node.child_by_field_name("type").is_some_and(|t| {
                    t.child_by_field_name("body").is_some()
                        && t.child_by_field_name("name").is_none()
                });
                if anonymous_body {
                    return None;
                }
                let declarator = node.child_by_field_name("declarator")?;
                let (name, _, row) = self.declarator_name(declarator)?;
                Some(Def {
                    name,
                    kind: K::Type,
                    container: None,
                    name_row: row,
                })
            }
            "alias_declaration" => self.def(node, "name", K::Type),
            "namespace_definition" => self.def(node, "name", K::Module),
            "preproc_def" => self.def(node, "name", K::Constant),
            "preproc_function_def" => self.def(node, "name", K::Macro),
            _ => None,
        }
    }

    /// The declared name of a C/C++ declarator, with its scope when qualified (`Foo::bar`).
    fn declarator_name(&self, mut node: Node<'_>) -> Option<(String, Option<String>, usize)> {
        for _ in 0..16 {
            match node.kind() {
                "identifier" | "field_identifier" | "type_identifier" | "destructor_name"
                | "operator_name" | "primitive_type" => {
                    return Some((self.text(node).to_string(), None, node.start_position().row));
                }
                "qualified_identifier" => {
                    let scope = node
                        .child_by_field_name("scope")
                        .map(|s| self.text(s).to_string());
                    let inner = node.child_by_field_name("name")?;
                    let (name, inner_scope, row) = self.declarator_name(inner)?;
                    let scope = match (scope, inner_scope) {
                        (Some(a), Some(b)) => Some(format!("{a}::{b}")),
                        (a, b) => a.or(b),
                    };
                    return Some((name, scope, row));
                }
                _ => {
                    node = node
                        .child_by_field_name("declarator")
                        .or_else(|| node.named_child(0))?;
                }
            }
        }
        None
    }
}

fn has_function_declarator(mut node: Node<'_>) -> bool {
    for _ in 0..8 {
        if node.kind() == "function_declarator" {
            return true;
        }
        match node.child_by_field_name("declarator") {
            Some(n) => node = n,
            None => return false,
        }
    }
    false
}

fn is_js_function(kind: &str) -> bool {
    matches!(
        kind,
        "arrow_function" | "function_expression" | "function" | "generator_function"
    )
}

/// `MAX_SIZE`, `DEFAULT_TIMEOUT_2`: upper case letters, digits and underscores, one letter at least.
fn is_constant_name(name: &str) -> bool {
    name.chars().any(|c| c.is_ascii_uppercase())
        && name
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
}

/// Subtrees that never hold definitions we report; skipping them saves walk time.
fn skip_subtree(kind: &str) -> bool {
    matches!(
        kind,
        "string"
            | "string_literal"
            | "raw_string_literal"
            | "comment"
            | "line_comment"
            | "block_comment"
            | "template_string"
            | "arguments"
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

    /// `(name, kind, container, line, end_line)` of every symbol.
    fn table(lang: Language, src: &str) -> Vec<(String, &'static str, String, u32, u32)> {
        extract(lang, src)
            .into_iter()
            .map(|s| {
                (
                    s.name,
                    s.kind.name(),
                    s.container.unwrap_or_default(),
                    s.line,
                    s.end_line,
                )
            })
            .collect()
    }

    fn names(lang: Language, src: &str) -> Vec<String> {
        extract(lang, src)
            .into_iter()
            .map(|s| {
                format!(
                    "{}:{}{}",
                    s.kind,
                    s.container.map(|c| format!("{c}.")).unwrap_or_default(),
                    s.name
                )
            })
            .collect()
    }

    #[test]
    fn rust_symbols() {
        let src = r#"
pub const LIMIT: usize = 3;
static NAME: &str = "x";
/// A point.
pub struct Point { x: f64 }
pub enum Shape { Circle, Square }
pub trait Area {
    fn area(&self) -> f64;
    fn unit() -> f64 { 1.0 }
}
impl Area for Point {
    fn area(&self) -> f64 { 0.0 }
}
impl<T> Wrapper<T> {
    pub fn new(t: T) -> Self { todo!() }
}
mod inner {
    pub fn helper() {}
}
type Alias = Vec<u8>;
macro_rules! square { ($x:expr) => { $x * $x }; }
fn main() {
    fn local() {}
}
"#;
        assert_eq!(
            names(Language::Rust, src),
            [
                "constant:LIMIT",
                "constant:NAME",
                "struct:Point",
                "enum:Shape",
                "trait:Area",
                "method:Area.area",
                "method:Area.unit",
                "impl:Point",
                "method:Point.area",
                "impl:Wrapper",
                "method:Wrapper.new",
                "module:inner",
                "function:inner.helper",
                "type:Alias",
                "macro:square",
                "function:main",
                "function:main.local",
            ]
        );
        let t = table(Language::Rust, src);
        assert_eq!(t[4], ("Area".into(), "trait", "".into(), 7, 10));
        let syms = extract(Language::Rust, src);
        assert_eq!(syms[8].signature, "fn area(&self) -> f64 { 0.0 }");
        assert_eq!(syms[7].signature, "impl Area for Point {");
    }

    #[test]
    fn python_symbols() {
        let src = "MAX_RETRIES = 3\nlower = 1\n\nclass Client:\n    TIMEOUT = 5\n\n    def __init__(self):\n        self.x = 1\n\n    @property\n    def name(self):\n        X = 2\n        return 'n'\n\n\ndef connect(url):\n    def inner():\n        pass\n    return inner\n";
        assert_eq!(
            names(Language::Python, src),
            [
                "constant:MAX_RETRIES",
                "class:Client",
                "constant:Client.TIMEOUT",
                "method:Client.__init__",
                "method:Client.name",
                "function:connect",
                "function:connect.inner",
            ]
        );
        let t = table(Language::Python, src);
        assert_eq!(t[1].3, 4);
        assert_eq!(t[1].4, 13);
    }

    #[test]
    fn javascript_symbols() {
        let src = "const API_URL = 'x';\nconst helper = (a) => a + 1;\nlet counter = 0;\nexport function fetchUser(id) {\n  const inner = () => 1;\n  return id;\n}\nclass Store {\n  constructor() {}\n  get size() { return 0; }\n  onClick = () => {};\n}\nfunction* gen() {}\n";
        assert_eq!(
            names(Language::JavaScript, src),
            [
                "constant:API_URL",
                "function:helper",
                "function:fetchUser",
                "class:Store",
                "method:Store.constructor",
                "method:Store.size",
                "method:Store.onClick",
                "function:gen",
            ]
        );
    }

    #[test]
    fn typescript_and_tsx_symbols() {
        let src = "export interface User {\n  id: number;\n  greet(): string;\n}\nexport type Id = string | number;\nenum Color { Red, Green }\nnamespace Util {\n  export function pad(s: string): string { return s; }\n}\nexport abstract class Repo<T> {\n  abstract find(id: Id): T;\n  save(item: T): void {}\n}\nexport const MAX_USERS = 10;\n";
        let expected = [
            "interface:User",
            "method:User.greet",
            "type:Id",
            "enum:Color",
            "module:Util",
            "function:Util.pad",
            "class:Repo",
            "method:Repo.find",
            "method:Repo.save",
            "constant:MAX_USERS",
        ];
        assert_eq!(names(Language::TypeScript, src), expected);
        let tsx = "export const Button = (props: Props) => <button>{props.label}</button>;\nexport function App() { return <div/>; }\n";
        assert_eq!(
            names(Language::Tsx, tsx),
            ["function:Button", "function:App"]
        );
    }

    #[test]
    fn go_symbols() {
        let src = "package main\n\nconst MaxSize = 10\n\ntype Server struct {\n\tAddr string\n}\n\ntype Handler interface {\n\tServe(w int) error\n}\n\ntype ID int\n\nfunc (s *Server) Start() error {\n\treturn nil\n}\n\nfunc main() {}\n";
        assert_eq!(
            names(Language::Go, src),
            [
                "constant:MaxSize",
                "struct:Server",
                "interface:Handler",
                "method:Handler.Serve",
                "type:ID",
                "method:Server.Start",
                "function:main",
            ]
        );
    }

    #[test]
    fn java_symbols() {
        let src = "package x;\n\npublic class Account {\n    public static final int LIMIT = 5;\n    private int balance;\n    public Account() {}\n    @Override\n    public String toString() { return \"\"; }\n    enum State { OPEN, CLOSED; void check() {} }\n}\ninterface Ledger {\n    int SIZE = 3;\n    void post(int amount);\n}\nrecord Pair(int a, int b) {}\n";
        assert_eq!(
            names(Language::Java, src),
            [
                "class:Account",
                "constant:Account.LIMIT",
                "method:Account.Account",
                "method:Account.toString",
                "enum:Account.State",
                "method:State.check",
                "interface:Ledger",
                "constant:Ledger.SIZE",
                "method:Ledger.post",
                "class:Pair",
            ]
        );
        let t = table(Language::Java, src);
        assert_eq!(t[3].3, 7, "annotation starts the method");
        let syms = extract(Language::Java, src);
        assert_eq!(
            syms[3].signature,
            "public String toString() { return \"\"; }"
        );
    }

    #[test]
    fn c_symbols() {
        let src = "#define BUF_SIZE 64\n#define MAX(a, b) ((a) > (b) ? (a) : (b))\nstruct node { int v; };\ntypedef struct { int x; } point_t;\ntypedef unsigned long size_type;\nenum color { RED, GREEN };\nint parse(const char *s);\nstatic char *dup_str(const char *s) {\n  return 0;\n}\nint main(void) { return 0; }\n";
        assert_eq!(
            names(Language::C, src),
            [
                "constant:BUF_SIZE",
                "macro:MAX",
                "struct:node",
                "struct:point_t",
                "type:size_type",
                "enum:color",
                "function:dup_str",
                "function:main",
            ]
        );
    }

    #[test]
    fn cpp_symbols() {
        let src = "namespace geo {\nclass Shape {\npublic:\n  Shape();\n  virtual double area() const = 0;\n  int id() const { return id_; }\nprivate:\n  int id_;\n};\ndouble Shape::perimeter() const { return 0; }\ntemplate <typename T>\nT clamp(T v) { return v; }\nusing Real = double;\n}\n";
        assert_eq!(
            names(Language::Cpp, src),
            [
                "module:geo",
                "class:geo.Shape",
                "method:Shape.Shape",
                "method:Shape.area",
                "method:Shape.id",
                "method:Shape.perimeter",
                "function:geo.clamp",
                "type:geo.Real",
            ]
        );
    }

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
    fn broken_source_still_yields_what_parsed() {
        let syms = extract(Language::Rust, "fn ok() {}\nfn broken( {\n");
        assert_eq!(syms[0].name, "ok");
    }
}
