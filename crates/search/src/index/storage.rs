//! The index directory: creating a fresh index, opening an existing one (refusing another
//! format version or unreadable metadata), and verifying checksums on a background thread so
//! that a damaged index is rebuilt, never served.

use std::path::Path;
use std::sync::{Arc, Condvar, Mutex};

use tantivy::{Index, IndexReader, ReloadPolicy};

use super::Handle;
use super::manifest::{Manifest, load_manifest};
use super::schema::{INDEX_VERSION, VERSION_FILE, schema};
use crate::SearchError;
use crate::tokenizer::{CODE_TOKENIZER, CodeTokenizer};

/// Where the background checksum verification of an opened index stands.
pub(super) enum Check {
    Pending,
    Passed,
    /// Damaged: the reason; the next gate rebuilds.
    Failed(String),
}

pub(super) fn io_err(path: &Path, source: std::io::Error) -> SearchError {
    SearchError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// A new, empty index in `dir` (whatever was there is removed).
pub(super) fn create_fresh(dir: &Path) -> Result<Handle, SearchError> {
    let (schema, _) = schema();
    if dir.exists() {
        std::fs::remove_dir_all(dir).map_err(|e| io_err(dir, e))?;
    }
    std::fs::create_dir_all(dir).map_err(|e| io_err(dir, e))?;
    let index = Index::create_in_dir(dir, schema)?;
    apex_core::files::write_durable(&dir.join(VERSION_FILE), INDEX_VERSION.as_bytes())
        .map_err(|e| io_err(dir, e))?;
    index.tokenizers().register(CODE_TOKENIZER, CodeTokenizer);
    let reader = index
        .reader_builder()
        .reload_policy(ReloadPolicy::Manual)
        .try_into()?;
    Ok(Handle { index, reader })
}

/// Verify every index file's checksum on a background thread and record the verdict.
pub(super) fn spawn_check(index: Index, check: Arc<(Mutex<Check>, Condvar)>) {
    let run = move || {
        let verdict = match index.validate_checksum() {
            Ok(damaged) if damaged.is_empty() => Check::Passed,
            Ok(damaged) => {
                let mut names: Vec<String> =
                    damaged.iter().map(|p| p.display().to_string()).collect();
                names.sort();
                Check::Failed(format!("checksum mismatch in {}", names.join(", ")))
            }
            Err(e) => Check::Failed(format!("cannot verify checksums: {e}")),
        };
        let (lock, cvar) = &*check;
        if let Ok(mut state) = lock.lock() {
            *state = verdict;
        }
        cvar.notify_all();
    };
    let fallback = run.clone();
    if std::thread::Builder::new()
        .name("search-check".into())
        .spawn(run)
        .is_err()
    {
        fallback();
    }
}

/// Open an index that exists on disk, checking that it is ours and readable. Checksums are
/// verified separately ([`spawn_check`]).
pub(super) fn open_existing(dir: &Path) -> Result<(Index, IndexReader, Manifest), String> {
    let version = std::fs::read_to_string(dir.join(VERSION_FILE)).unwrap_or_default();
    if version.trim() != INDEX_VERSION {
        return Err(format!(
            "index format `{}` is not `{INDEX_VERSION}`",
            version.trim()
        ));
    }
    let index = Index::open_in_dir(dir).map_err(|e| format!("cannot open: {e}"))?;
    index.tokenizers().register(CODE_TOKENIZER, CodeTokenizer);
    let reader: IndexReader = index
        .reader_builder()
        .reload_policy(ReloadPolicy::Manual)
        .try_into()
        .map_err(|e| format!("cannot read: {e}"))?;
    let mut manifest = load_manifest(&reader).map_err(|e| format!("cannot read files: {e}"))?;
    let metas = index.load_metas().map_err(|e| format!("{e}"))?;
    manifest.info = metas
        .payload
        .as_deref()
        .and_then(|p| serde_json::from_str(p).ok());
    Ok((index, reader, manifest))
}
