//! What the index knows of every file (its manifest), rebuilt from the index's fast fields
//! at open, so the index alone is the truth: mtime, size, content hash, language, and how
//! many definitions were extracted (or that the file waits for the symbol pass).

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use tantivy::IndexReader;
use tantivy::columnar::StrColumn;

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

/// The manifest's map: 140k paths of a gigabyte workspace are looked up on every re-index,
/// where SipHash, std's default, cost more than the look-ups' memory accesses.
pub(crate) type FileMap = HashMap<String, FileMeta, foldhash::fast::RandomState>;

/// The in-memory view of what is indexed, kept in step with commits.
#[derive(Debug, Default)]
pub(crate) struct Manifest {
    pub files: FileMap,
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

/// The strings of a string fast field's term ordinals, `ords` sorted and without repeats,
/// in the same order. One pass over the column's dictionary: looking each ordinal up alone
/// decompresses its dictionary block again each time (with a new zstd context), which made
/// opening the gigabyte corpus's index take 7.3 s and a `find_symbol` text fallback over a
/// few thousand files most of its time.
fn ord_strings(col: &StrColumn, ords: &[u64]) -> std::io::Result<Vec<String>> {
    let mut out = Vec::with_capacity(ords.len());
    col.dictionary().sorted_ords_to_term_cb(ords, |bytes| {
        out.push(String::from_utf8_lossy(bytes).into_owned());
    })?;
    Ok(out)
}

/// The distinct strings of `docs`' first term ordinals in `col`, in the column's (sorted)
/// order.
pub(crate) fn distinct_strings(
    col: &StrColumn,
    docs: impl IntoIterator<Item = u32>,
) -> std::io::Result<Vec<String>> {
    let ords = distinct_ords(docs.into_iter().filter_map(|d| col.term_ords(d).next()));
    ord_strings(col, &ords)
}

fn distinct_ords(ords: impl Iterator<Item = u64>) -> Vec<u64> {
    let mut ords: Vec<u64> = ords.collect();
    ords.sort_unstable();
    ords.dedup();
    ords
}

/// The string of each of `docs`' first term ordinal in `col` (`None` without one).
fn first_strings(col: &StrColumn, docs: &[u32]) -> std::io::Result<Vec<Option<String>>> {
    let doc_ords: Vec<Option<u64>> = docs.iter().map(|&d| col.term_ords(d).next()).collect();
    let ords = distinct_ords(doc_ords.iter().flatten().copied());
    let strings = ord_strings(col, &ords)?;
    Ok(doc_ords
        .into_iter()
        .map(|o| {
            o.and_then(|o| ords.binary_search(&o).ok())
                .map(|i| strings[i].clone())
        })
        .collect())
}

pub(super) fn load_manifest(reader: &IndexReader) -> tantivy::Result<Manifest> {
    let searcher = reader.searcher();
    let mut files = FileMap::default();
    // Path -> (content hash the symbols were extracted from, how many).
    let mut parsed: HashMap<String, (u64, u32)> = HashMap::new();
    for seg in searcher.segment_readers() {
        let ff = seg.fast_fields();
        let hash = ff.u64("hash")?;
        let sym_hash = ff.u64("sym_hash")?;
        let mtime = ff.u64("mtime")?;
        let size = ff.u64("size")?;
        let nsym = ff.u64("nsym")?;
        let (Some(paths), Some(langs)) = (ff.str("file_path")?, ff.str("file_lang")?) else {
            continue;
        };
        let alive = seg.alive_bitset();
        // File and spans documents (symbol documents have neither hash).
        let docs: Vec<u32> = (0..seg.max_doc())
            .filter(|&doc| alive.is_none_or(|a| a.is_alive(doc)))
            .filter(|&doc| hash.first(doc).is_some() || sym_hash.first(doc).is_some())
            .collect();
        let path_of = first_strings(&paths, &docs)?;
        let lang_of = first_strings(&langs, &docs)?;
        for ((&doc, path), lang) in docs.iter().zip(path_of).zip(lang_of) {
            let (file_hash, spans_hash) = (hash.first(doc), sym_hash.first(doc));
            let path = path.unwrap_or_default();
            if let Some(h) = spans_hash {
                let n = nsym.first(doc).unwrap_or(0) as u32;
                parsed.insert(path, (h, n));
                continue;
            }
            let Some(h) = file_hash else {
                continue;
            };
            files.insert(
                path,
                FileMeta {
                    mtime_ns: mtime.first(doc).unwrap_or(0),
                    size: size.first(doc).unwrap_or(0),
                    hash: h,
                    lang: lang.unwrap_or_default(),
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
