//! Reading one file: `read_code` (a line range or a symbol, numbered, within a token budget)
//! and `outline` (the symbol tree of a file).
//!
//! Both read the file as it is now and parse it on the spot, so they need no index and are
//! never stale. Paths go through [`apex_core::workspace::Workspace::resolve`]: anything outside
//! the root, including through a symlink, is refused.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::budget::{self, Budget};
use super::names::SymbolName;
use super::query::{numbered, split_lines};
use super::symbols::{self, Symbol};
use super::{SearchError, SearchIndex};

/// A `read_code` request (the tool's arguments): a line range, or a symbol of the file, or
/// the whole file.
#[derive(Debug, Clone, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReadRequest {
    /// File path relative to the workspace root.
    pub path: String,
    /// First line to read (1-based, default 1).
    pub start_line: Option<u32>,
    /// Last line to read (inclusive, default: end of file).
    pub end_line: Option<u32>,
    /// Read this symbol of the file instead of a line range (e.g. `parse` or `Config::load`).
    pub symbol: Option<String>,
    /// Token budget (1-20000, default 4000); lines stop at a whole line.
    pub max_tokens: Option<usize>,
}

/// Numbered lines of one file.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CodeExcerpt {
    pub path: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub language: Option<String>,
    pub start_line: u32,
    /// The last line returned (may be before the requested end when the budget ran out).
    pub end_line: u32,
    pub total_lines: u32,
    /// `N  text` lines.
    pub text: String,
    /// True when the budget cut the range short.
    pub truncated: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_start_line: Option<u32>,
    /// The symbol read, when one was asked for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub symbol: Option<Symbol>,
    pub tokens: usize,
}

/// The symbol tree of one file.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Outline {
    pub path: String,
    pub language: String,
    pub symbols: Vec<OutlineNode>,
    /// Symbols in the file.
    pub total: usize,
    /// Symbols left out to keep within the budget.
    pub omitted: usize,
    pub tokens: usize,
}

/// One symbol with the symbols nested in it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct OutlineNode {
    pub name: String,
    pub kind: String,
    pub line: u32,
    pub end_line: u32,
    pub signature: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub children: Vec<OutlineNode>,
}

impl SearchIndex {
    /// Read a file (resolved under the root) as text, refusing directories, the data dir and
    /// binary files.
    fn read_workspace_file(
        &self,
        given: &str,
        field: &'static str,
    ) -> Result<(String, String), SearchError> {
        let ws = &self.inner.ws;
        let abs = ws.resolve(given)?;
        if abs.starts_with(ws.data_dir()) {
            return Err(SearchError::BadArgument {
                field,
                message: format!(
                    "`{given}` is inside the data dir, which holds the index, not code"
                ),
            });
        }
        if abs.is_dir() {
            return Err(SearchError::BadArgument {
                field,
                message: format!(
                    "`{given}` is a directory; give a file path (search_code with a path glob lists files)"
                ),
            });
        }
        let bytes = std::fs::read(&abs).map_err(|source| SearchError::Io {
            path: given.to_string(),
            source,
        })?;
        if bytes[..bytes.len().min(8192)].contains(&0) {
            return Err(SearchError::BadArgument {
                field,
                message: format!("`{given}` is a binary file; only text files can be read"),
            });
        }
        let text = match String::from_utf8(bytes) {
            Ok(s) => s,
            Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
        };
        Ok((ws.relative(&abs), text))
    }

    /// Numbered lines of a file: a range, a symbol's lines, or the file from the top,
    /// cut at whole lines to `max_tokens`.
    pub fn read_code(&self, req: &ReadRequest) -> Result<CodeExcerpt, SearchError> {
        let max_tokens = budget::max_tokens(req.max_tokens)?;
        let (rel, text) = self.read_workspace_file(&req.path, "path")?;
        let lines = split_lines(&text);
        let total = lines.len() as u32;
        let lang = symbols::language_for_source(Path::new(&rel), &text);
        let symbol_name = req
            .symbol
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty());
        let (from, to, symbol) = match symbol_name {
            Some(name) => {
                if req.start_line.is_some() || req.end_line.is_some() {
                    return Err(SearchError::BadArgument {
                        field: "symbol",
                        message: "give either symbol or start_line/end_line, not both".into(),
                    });
                }
                let lang = lang.ok_or_else(|| unsupported(&rel))?;
                let syms = symbols::extract(lang, &text);
                let sym = pick_symbol(&syms, &rel, name).ok_or_else(|| {
                    let mut names: Vec<&str> = syms.iter().map(|s| s.name.as_str()).collect();
                    names.dedup();
                    names.truncate(30);
                    SearchError::NotFound(format!(
                        "symbol: `{name}` is not defined in {rel}; its symbols include: {}",
                        if names.is_empty() {
                            "none".to_string()
                        } else {
                            names.join(", ")
                        }
                    ))
                })?;
                (sym.line, sym.end_line, Some(sym.clone()))
            }
            None => {
                let from = req.start_line.unwrap_or(1);
                let to = req.end_line.unwrap_or(total.max(1));
                if from == 0 {
                    return Err(SearchError::BadArgument {
                        field: "start_line",
                        message: "lines are numbered from 1".into(),
                    });
                }
                if from > total.max(1) {
                    return Err(SearchError::BadArgument {
                        field: "start_line",
                        message: format!(
                            "{from} is past the end of {rel}, which has {total} lines"
                        ),
                    });
                }
                if to < from {
                    return Err(SearchError::BadArgument {
                        field: "end_line",
                        message: format!("{to} is before start_line {from}"),
                    });
                }
                (from, to.min(total.max(1)), None)
            }
        };
        let (body, shown) = numbered(&lines, from, to, max_tokens);
        let truncated = shown < to.min(total);
        Ok(CodeExcerpt {
            path: rel,
            language: lang.map(|l| l.name().to_string()),
            start_line: from,
            end_line: shown,
            total_lines: total,
            tokens: budget::tokens(&body),
            text: body,
            truncated,
            next_start_line: truncated.then_some(shown + 1),
            symbol,
        })
    }

    /// The symbol tree of one file. `max_tokens` (default 4,000) bounds large files: nodes
    /// past the budget are left out and counted.
    pub fn outline(&self, path: &str, max_tokens: Option<usize>) -> Result<Outline, SearchError> {
        let max_tokens = budget::max_tokens(max_tokens)?;
        let (rel, text) = self.read_workspace_file(path, "path")?;
        let lang = symbols::language_for_source(Path::new(&rel), &text)
            .ok_or_else(|| unsupported(&rel))?;
        let syms = symbols::extract(lang, &text);
        let total = syms.len();
        let mut budget = Budget::new(max_tokens);
        let mut kept = Vec::new();
        for s in syms {
            let cost = budget::tokens(&s.name) + budget::tokens(&s.signature) + 8;
            if !budget.take(cost) {
                break;
            }
            kept.push(s);
        }
        let omitted = total - kept.len();
        Ok(Outline {
            path: rel,
            language: lang.name().to_string(),
            symbols: tree(&kept),
            total,
            omitted,
            tokens: budget.used(),
        })
    }
}

fn unsupported(rel: &str) -> SearchError {
    SearchError::BadArgument {
        field: "path",
        message: format!(
            "`{rel}` is not in a language with symbols; supported: {}",
            symbols::Language::ALL.map(|l| l.name()).join(", ")
        ),
    }
}

/// The symbol named `name` (`open`, `Store::open`, `Store.open`): exact name first, then
/// ignoring case.
fn pick_symbol<'a>(syms: &'a [Symbol], rel: &str, name: &str) -> Option<&'a Symbol> {
    let wanted = SymbolName::parse(name);
    // A definition with a body before a declaration of it (a method declared in its class
    // and defined further down the same header).
    let first = |named: &dyn Fn(&Symbol) -> bool| {
        let matching = || {
            syms.iter()
                .filter(|s| named(s) && wanted.in_container(s.container.as_deref(), rel))
        };
        matching()
            .find(|s| !s.declaration)
            .or_else(|| matching().next())
    };
    first(&|s| s.name == wanted.name)
        .or_else(|| first(&|s| s.name.eq_ignore_ascii_case(wanted.name)))
}

/// Nest symbols by their line spans (they arrive in source order).
fn tree(syms: &[Symbol]) -> Vec<OutlineNode> {
    fn node(s: &Symbol) -> OutlineNode {
        OutlineNode {
            name: s.name.clone(),
            kind: s.kind.name().to_string(),
            line: s.line,
            end_line: s.end_line,
            signature: s.signature.clone(),
            children: Vec::new(),
        }
    }
    fn attach(stack: &mut Vec<OutlineNode>, roots: &mut Vec<OutlineNode>) {
        if let Some(done) = stack.pop() {
            match stack.last_mut() {
                Some(parent) => parent.children.push(done),
                None => roots.push(done),
            }
        }
    }
    let mut roots = Vec::new();
    let mut stack: Vec<OutlineNode> = Vec::new();
    for s in syms {
        while stack
            .last()
            .is_some_and(|top| !(top.line <= s.line && s.end_line <= top.end_line))
        {
            attach(&mut stack, &mut roots);
        }
        stack.push(node(s));
    }
    while !stack.is_empty() {
        attach(&mut stack, &mut roots);
    }
    roots
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::symbols::{Language, extract};

    #[test]
    fn outline_nests_by_span() {
        let src = "struct A;\nimpl A {\n    fn x() {}\n    fn y() {}\n}\nfn z() {}\n";
        let t = tree(&extract(Language::Rust, src));
        let shape: Vec<(String, Vec<String>)> = t
            .iter()
            .map(|n| {
                (
                    n.name.clone(),
                    n.children.iter().map(|c| c.name.clone()).collect(),
                )
            })
            .collect();
        assert_eq!(
            shape,
            [
                ("A".to_string(), vec![]),
                ("A".to_string(), vec!["x".to_string(), "y".to_string()]),
                ("z".to_string(), vec![]),
            ]
        );
    }

    #[test]
    fn symbols_are_picked_by_qualified_name() {
        let src = "struct A;\nimpl A { fn open() {} }\nstruct B;\nimpl B { fn open() {} }\n";
        let syms = extract(Language::Rust, src);
        let pick = |name: &str| pick_symbol(&syms, "src/store.rs", name).map(|s| s.line);
        assert_eq!(pick("B::open"), Some(4));
        assert_eq!(pick("open"), Some(2));
        assert_eq!(pick("C::open"), None);
        // As written in code, and qualified by the file's own module path.
        assert_eq!(pick("fn open()"), Some(2));
        assert_eq!(pick("crate::store::B::open"), Some(4));
        assert_eq!(pick("store::open"), Some(2));
        // A container is matched part for part, not by the end of its name.
        let src = "class HTTPClient:\n    def fetch(self): pass\n\nclass AsyncHTTPClient:\n    def fetch(self): pass\n";
        let syms = extract(Language::Python, src);
        let pick = |name: &str| pick_symbol(&syms, "tornado/httpclient.py", name).map(|s| s.line);
        assert_eq!(pick("tornado.httpclient.AsyncHTTPClient.fetch"), Some(5));
        assert_eq!(pick("httpclient.HTTPClient.fetch"), Some(2));
        assert_eq!(pick("Client.fetch"), None);
        // Declared in its class, defined below it in the same header: the definition.
        let src = "class A {\n  void open();\n};\ninline void A::open() {\n  run();\n}\n";
        let syms = extract(Language::Cpp, src);
        let open = pick_symbol(&syms, "a.h", "A::open").unwrap();
        assert_eq!((open.line, open.end_line, open.declaration), (4, 6, false));
        assert_eq!(pick_symbol(&syms, "a.h", "open").unwrap().line, 4);
    }
}
