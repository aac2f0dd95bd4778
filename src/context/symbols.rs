//! Where the context library gets symbols: the tree-sitter extractor of the search module
//! for one file, and a workspace-wide lookup by name ([`SymbolIndex`]) for symbols given
//! without a path or that left their file.
//!
//! It only adapts the search module's types to the few fields anchoring needs; it does not
//! parse anything itself.

use std::path::Path;

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
}

/// The symbols defined in one file, or why they cannot be had (unsupported language).
pub fn symbols_in(path: &Path, _source: &str) -> Result<Vec<SymbolDef>, String> {
    Err(format!(
        "symbols of {} cannot be read yet: the symbol extractor is not built in",
        path.display()
    ))
}
