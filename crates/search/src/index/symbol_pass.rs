//! The symbol pass: parse files that wait for symbols (a large update committed their text
//! first) with tree-sitter and add their symbol and spans documents in small committed
//! batches, each under the update lock, so watched edits interleave with it.

use std::collections::HashSet;
use std::path::Path;
use std::time::Instant;

use rayon::prelude::*;
use serde_json::json;
use tantivy::{IndexWriter, TantivyDocument, Term, doc, index::SegmentId};
use tokio_util::sync::CancellationToken;

use super::manifest::FileMeta;
use super::schema::{KIND_SPANS, KIND_SYMBOL, NO_CONTAINER, encode_spans, path_hash};
use super::text_pass::Prepared;
use super::*;
use crate::symbols::{self, Symbol};
use crate::walk::WalkedFile;
use apex_core::events::EventSink;

/// Source bytes parsed per committed batch of the symbol pass: small enough that a watched
/// edit waits well under a second for the update lock, large enough that commits stay cheap.
const SYMBOL_BATCH_BYTES: u64 = 12 << 20;
const SYMBOL_BATCH_FILES: usize = 4000;

impl Engine {
    /// Files waiting for the symbol pass.
    pub fn symbols_pending(&self) -> u64 {
        self.manifest.read().map(|m| m.pending).unwrap_or(0)
    }

    /// Parse every pending file for symbols, in committed batches that each take the update
    /// lock, so watched edits and other updates interleave, and several passes (a background
    /// one and a caller that waits for symbols) share the work instead of repeating it.
    /// Returns when no file is pending. A file whose content changed since its text was
    /// indexed is re-indexed whole; a vanished one is dropped.
    pub fn extract_symbols(
        &self,
        sink: &dyn EventSink,
        cancel: &CancellationToken,
    ) -> Result<SymbolPass, SearchError> {
        self.gate()?;
        let started = Instant::now();
        let mut pass = SymbolPass::default();
        let total = self.symbols_pending();
        let mut done = 0u64;
        // The segments this pass committed, merged into one at its end.
        let mut fresh: Vec<SegmentId> = Vec::new();
        if total > 0 {
            let bytes: u64 = self
                .manifest
                .read()
                .map(|m| {
                    m.files
                        .values()
                        .filter(|f| f.symbols_pending())
                        .map(|f| f.size)
                        .sum()
                })
                .unwrap_or(0);
            // This event, one per batch, one to spare, and the closing `index_finished`.
            sink.expect_more(bytes / SYMBOL_BATCH_BYTES + 4);
            sink.emit(
                "symbols_started",
                json!({"files": total, "message": format!("{total} files to parse for symbols")}),
            );
        }
        loop {
            if cancel.is_cancelled() {
                return Err(SearchError::Cancelled { indexed: done });
            }
            let guard = self.update_lock.lock().map_err(|_| SearchError::Poisoned)?;
            let batch: Vec<(String, FileMeta)> = {
                let m = self.manifest.read().map_err(|_| SearchError::Poisoned)?;
                let mut pending: Vec<(&String, &FileMeta)> = m
                    .files
                    .iter()
                    .filter(|(_, f)| f.symbols_pending())
                    .collect();
                pending.sort_unstable_by(|a, b| a.0.cmp(b.0));
                let mut bytes = 0u64;
                pending
                    .into_iter()
                    .take_while(|(_, f)| {
                        let take = bytes < SYMBOL_BATCH_BYTES;
                        bytes += f.size;
                        take
                    })
                    .take(SYMBOL_BATCH_FILES)
                    .map(|(r, f)| (r.clone(), f.clone()))
                    .collect()
            };
            if batch.is_empty() {
                drop(guard);
                self.merge_segments(&fresh)?;
                if done < total {
                    // Another pass (a background one) parsed the rest.
                    sink.emit(
                        "symbols_extracted",
                        json!({"done": total, "total": total, "symbols": pass.symbols,
                               "message": format!("{total}/{total} files parsed for symbols")}),
                    );
                }
                break;
            }
            let handle = self.handle();
            let before: HashSet<SegmentId> =
                handle.index.searchable_segment_ids()?.into_iter().collect();
            let mut writer = self.writer(&handle.index, 0, false)?;
            let root = self.rules.root();
            let results: Vec<(String, Prepared)> = batch
                .par_iter()
                .map(|(rel, meta)| {
                    let p = self.parse_pending(root, rel, meta, &writer);
                    (rel.clone(), p)
                })
                .collect();
            let mut prepared = writer.prepare_commit()?;
            let info = self
                .manifest
                .read()
                .map_err(|_| SearchError::Poisoned)?
                .info
                .clone();
            if let Some(info) = &info {
                prepared.set_payload(&serde_json::to_string(info).unwrap_or_default());
            }
            prepared.commit()?;
            writer.wait_merging_threads()?;
            handle.reader.reload()?;
            fresh.extend(
                handle
                    .index
                    .searchable_segment_ids()?
                    .into_iter()
                    .filter(|id| !before.contains(id)),
            );
            {
                let mut m = self.manifest.write().map_err(|_| SearchError::Poisoned)?;
                for (rel, p) in results {
                    match p {
                        Prepared::Indexed(meta, _) | Prepared::SameContent(meta) => {
                            pass.symbols += meta.symbols.unwrap_or(0) as u64;
                            m.files.insert(rel, meta);
                        }
                        Prepared::Unreadable => {
                            m.files.remove(&rel);
                        }
                    }
                }
                m.recount();
            }
            drop(guard);
            done += batch.len() as u64;
            pass.files += batch.len() as u64;
            sink.emit(
                "symbols_extracted",
                json!({"done": done, "total": total.max(done), "symbols": pass.symbols,
                       "message": format!("{done}/{} files parsed for symbols", total.max(done))}),
            );
        }
        pass.ms = started.elapsed().as_millis() as u64;
        Ok(pass)
    }

    /// Merge the given segments (those still live) into one.
    fn merge_segments(&self, ids: &[SegmentId]) -> Result<(), SearchError> {
        let _guard = self.update_lock.lock().map_err(|_| SearchError::Poisoned)?;
        let handle = self.handle();
        let live: HashSet<SegmentId> = handle.index.searchable_segment_ids()?.into_iter().collect();
        let ids: Vec<SegmentId> = ids.iter().filter(|id| live.contains(id)).copied().collect();
        if ids.len() < 2 {
            return Ok(());
        }
        let mut writer = self.writer(&handle.index, 0, false)?;
        writer.merge(&ids).wait()?;
        writer.wait_merging_threads()?;
        handle.reader.reload()?;
        Ok(())
    }

    /// Parse one pending file (its symbols only, when its content is what was indexed).
    fn parse_pending(
        &self,
        root: &Path,
        rel: &str,
        meta: &FileMeta,
        writer: &IndexWriter,
    ) -> Prepared {
        let abs = root.join(rel);
        let Ok(bytes) = std::fs::read(&abs) else {
            writer.delete_term(Term::from_field_text(self.f.path, rel));
            return Prepared::Unreadable;
        };
        let hash = xxhash_rust::xxh3::xxh3_64(&bytes);
        if hash != meta.hash || bytes.len() as u64 != meta.size {
            // Changed since the text pass: index it again, whole.
            let file = WalkedFile {
                rel: rel.to_string(),
                abs,
                size: bytes.len() as u64,
                mtime_ns: meta.mtime_ns,
            };
            drop(bytes);
            return self.prepare(&file, None, writer, false);
        }
        let text = match String::from_utf8(bytes) {
            Ok(s) => s,
            Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
        };
        let syms = symbols::Language::from_name(&meta.lang)
            .map(|l| symbols::extract(l, &text))
            .unwrap_or_default();
        self.add_symbols(writer, rel, path_hash(rel), &meta.lang, hash, &syms);
        Prepared::SameContent(FileMeta {
            symbols: Some(syms.len() as u32),
            ..meta.clone()
        })
    }

    /// The symbol and spans documents of one parsed file.
    pub(super) fn add_symbols(
        &self,
        writer: &IndexWriter,
        rel: &str,
        ph: u64,
        lang: &str,
        hash: u64,
        syms: &[Symbol],
    ) {
        let f = &self.f;
        for s in syms {
            let _ = writer.add_document(self.symbol_doc(rel, ph, lang, s));
        }
        let _ = writer.add_document(doc!(
            f.kind => KIND_SPANS, f.path => rel, f.path_hash => ph, f.lang => lang,
            f.sym_hash => hash, f.nsym => syms.len() as u64, f.spans => encode_spans(syms),
        ));
    }

    fn symbol_doc(&self, rel: &str, ph: u64, lang: &str, s: &Symbol) -> TantivyDocument {
        let f = &self.f;
        let mut d = doc!(
            f.kind => KIND_SYMBOL, f.path => rel, f.path_hash => ph, f.lang => lang,
            f.name => s.name.as_str(), f.name_exact => crate::tokenizer::lower(&s.name),
            f.sym_kind => s.kind.name(), f.signature => s.signature.as_str(),
            f.line => s.line as u64, f.end_line => s.end_line as u64,
        );
        match &s.container {
            Some(c) => {
                d.add_text(f.container, c);
                d.add_text(f.container_exact, crate::tokenizer::lower(c));
            }
            None => d.add_text(f.container_exact, NO_CONTAINER),
        }
        d
    }
}
