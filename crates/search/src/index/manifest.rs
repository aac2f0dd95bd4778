//! What the index knows of every file (its manifest), rebuilt from the index's fast fields
//! at open, so the index alone is the truth: mtime, size, content hash, language, and how
//! many definitions were extracted (or that the file waits for the symbol pass).

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use tantivy::IndexReader;

use super::BINARY;
use crate::symbols;

/// What the index knows of one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FileMeta {
    pub mtime_ns: u64,
    pub size: u64,
    pub hash: u64,
    pub lang: String,
    /// Definitions found; `None` while the file waits for the symbol pass.
    pub symbols: Option<u32>,
}

impl FileMeta {
    pub fn symbols_pending(&self) -> bool {
        self.symbols.is_none()
    }
}

/// Whether a file of this language label is parsed for symbols (every one with a grammar).
pub(super) fn parsable(lang: &str) -> bool {
    symbols::Language::from_name(lang).is_some()
}

/// Stored with every commit.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct CommitInfo {
    pub last_update: String,
    pub skipped_large: u64,
    pub skipped_symlinks: u64,
    /// False when the last full walk was cancelled before it finished.
    pub complete: bool,
}

/// The in-memory view of what is indexed, kept in step with commits.
#[derive(Debug, Default)]
pub(crate) struct Manifest {
    pub files: HashMap<String, FileMeta>,
    /// `None` until the first commit: the workspace was never indexed.
    pub info: Option<CommitInfo>,
    /// Files waiting for the symbol pass, recounted after every change to `files` (queries
    /// ask on every call; counting there would walk every file each time).
    pub pending: u64,
}

impl Manifest {
    pub(super) fn recount(&mut self) {
        self.pending = self.files.values().filter(|f| f.symbols_pending()).count() as u64;
    }
}

pub(super) fn load_manifest(reader: &IndexReader) -> tantivy::Result<Manifest> {
    let searcher = reader.searcher();
    let mut files = HashMap::new();
    // Path -> (content hash the symbols were extracted from, how many).
    let mut parsed: HashMap<String, (u64, u32)> = HashMap::new();
    let mut path = String::new();
    let mut lang = String::new();
    for seg in searcher.segment_readers() {
        let ff = seg.fast_fields();
        let hash = ff.u64("hash")?;
        let sym_hash = ff.u64("sym_hash")?;
        let mtime = ff.u64("mtime")?;
        let size = ff.u64("size")?;
        let nsym = ff.u64("nsym")?;
        let (Some(paths), Some(langs)) = (ff.str("path")?, ff.str("lang")?) else {
            continue;
        };
        let alive = seg.alive_bitset();
        for doc in 0..seg.max_doc() {
            if alive.is_some_and(|a| !a.is_alive(doc)) {
                continue;
            }
            let (file_hash, spans_hash) = (hash.first(doc), sym_hash.first(doc));
            if file_hash.is_none() && spans_hash.is_none() {
                continue; // a symbol document
            }
            path.clear();
            lang.clear();
            if let Some(ord) = paths.term_ords(doc).next() {
                paths.ord_to_str(ord, &mut path)?;
            }
            if let Some(h) = spans_hash {
                let n = nsym.first(doc).unwrap_or(0) as u32;
                parsed.insert(path.clone(), (h, n));
                continue;
            }
            let Some(h) = file_hash else {
                continue;
            };
            if let Some(ord) = langs.term_ords(doc).next() {
                langs.ord_to_str(ord, &mut lang)?;
            }
            files.insert(
                path.clone(),
                FileMeta {
                    mtime_ns: mtime.first(doc).unwrap_or(0),
                    size: size.first(doc).unwrap_or(0),
                    hash: h,
                    lang: lang.clone(),
                    symbols: Some(0),
                },
            );
        }
    }
    // A file is parsed when a spans document for its current content exists; a parsable
    // file without one waits for the symbol pass.
    for (rel, meta) in files.iter_mut() {
        meta.symbols = match parsed.get(rel) {
            Some(&(h, n)) if h == meta.hash => Some(n),
            _ if meta.lang != BINARY && parsable(&meta.lang) => None,
            _ => Some(0),
        };
    }
    let mut manifest = Manifest {
        files,
        info: None,
        pending: 0,
    };
    manifest.recount();
    Ok(manifest)
}
