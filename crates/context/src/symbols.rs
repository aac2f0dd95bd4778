//! Where the context library gets symbols: the tree-sitter extractor of the search module
//! for one file, and a workspace-wide lookup by name ([`SymbolIndex`]) for symbols given
//! without a path or that left their file.
//!
//! It only adapts the search module's types to the few fields anchoring needs; it does not
//! parse anything itself.

use std::path::Path;

use apex_search::SearchIndex;
use apex_search::query::FindSymbolRequest;
use apex_search::symbols::{Language, Symbol, extract, language_for_source};

/// A symbol definition, as anchoring sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SymbolDef {
    pub name: String,
    /// The enclosing symbols joined with `::` (`Store`, `outer::Inner`), when nested.
    pub container: Option<String>,
    /// `function`, `method`, `struct`, `class`...
    pub kind: String,
    /// 1-based, inclusive.
    pub start_line: u32,
    pub end_line: u32,
}

impl SymbolDef {
    /// `container::name`, or just `name` at the top level.
    pub fn qualified(&self) -> String {
        match &self.container {
            Some(c) if !c.is_empty() => format!("{c}::{}", self.name),
            _ => self.name.clone(),
        }
    }
}

/// A workspace-wide lookup of definitions by name.
pub trait SymbolIndex: Send + Sync {
    /// Definitions named exactly `name`, with the path of their file relative to the root.
    fn definitions(&self, name: &str) -> Vec<(String, SymbolDef)>;

    /// Whether lookups can be answered now (an index that is not built yet cannot).
    fn is_ready(&self) -> bool {
        true
    }
}

impl SymbolIndex for SearchIndex {
    fn definitions(&self, name: &str) -> Vec<(String, SymbolDef)> {
        let mut req = FindSymbolRequest::new(name);
        req.limit = Some(200);
        req.max_tokens = Some(20_000);
        match self.find_symbol(&req) {
            Ok(found) => found
                .definitions
                .into_iter()
                .filter(|d| d.name == name)
                .map(|d| {
                    (
                        d.path,
                        SymbolDef {
                            name: d.name,
                            container: d.container,
                            kind: d.kind,
                            start_line: d.line,
                            end_line: d.end_line,
                        },
                    )
                })
                .collect(),
            Err(_) => Vec::new(),
        }
    }

    fn is_ready(&self) -> bool {
        self.is_indexed()
    }
}

/// The symbols defined in one file, or why they cannot be had (unsupported language).
pub fn symbols_in(path: &Path, source: &str) -> Result<Vec<SymbolDef>, String> {
    let language = language_for_source(path, source).ok_or_else(|| {
        format!(
            "symbols of `{}` cannot be read: its language is not supported (supported: {}); give start_line/end_line instead",
            path.file_name().map(|n| n.to_string_lossy()).unwrap_or_default(),
            Language::ALL.map(|l| l.name()).join(", ")
        )
    })?;
    Ok(extract(language, source)
        .into_iter()
        .map(SymbolDef::from)
        .collect())
}

impl From<Symbol> for SymbolDef {
    fn from(s: Symbol) -> Self {
        Self {
            name: s.name,
            container: s.container,
            kind: s.kind.name().to_string(),
            start_line: s.line,
            end_line: s.end_line,
        }
    }
}
