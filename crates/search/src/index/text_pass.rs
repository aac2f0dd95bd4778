//! The text pass of an update: which files to read (a whole walk or the paths a watcher
//! reported), reading and tokenizing them into file documents in parallel batches, and one
//! commit. Small updates parse symbols on the way; large ones leave them to the symbol pass.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::Instant;

use rayon::prelude::*;
use serde_json::json;
use tantivy::{IndexWriter, TantivyDocument, Term, doc};
use tokio_util::sync::CancellationToken;

use super::manifest::{CommitInfo, FileMeta};
use super::origin::origin;
use super::schema::{KIND_FILE, KIND_SYMBOL, file_rank, path_hash};
use super::*;
use crate::symbols;
use crate::walk::{PathFilter, PathVerdict, WalkedFile};
use apex_core::events::EventSink;

/// What a text pass looks at.
struct Candidates {
    files: Vec<WalkedFile>,
    removed: Vec<String>,
    skipped_large: u64,
    skipped_symlinks: u64,
    /// A walk of the whole tree (not a watcher's paths).
    whole_tree: bool,
}

/// What the batches of a text pass did to the manifest, to apply once committed.
#[derive(Default)]
struct Written {
    updates: Vec<(String, Option<FileMeta>)>,
    cancelled: bool,
}

/// Files per progress batch.
const BATCH_FILES: usize = 2000;
const BATCH_BYTES: u64 = 48 << 20;
/// How far into a file we look for NUL bytes to call it binary (as git and ripgrep do).
const BINARY_PROBE: usize = 8192;

impl Engine {
    /// The text pass of an update, under the update lock (`up`): find what changed in
    /// `scope`, read and index it in batches, and commit.
    pub(super) fn update_locked(
        &self,
        up: &mut Updater,
        scope: Scope,
        full: bool,
        sink: &dyn EventSink,
        cancel: &CancellationToken,
    ) -> Result<IndexReport, SearchError> {
        let started = Instant::now();
        let mut found = self.candidates(&mut up.filter, scope)?;
        let mut report = IndexReport {
            run_id: apex_core::events::new_run_id("index"),
            mode: if full { "full" } else { "incremental" }.into(),
            scanned: found.files.len() as u64,
            skipped_large: found.skipped_large,
            ..IndexReport::default()
        };
        let (changed, prior) = self.changed_files(&mut found, full)?;
        let total_bytes: u64 = changed.iter().map(|c| c.size).sum();
        let batches = batches(&changed);
        sink.expect_total(batches.len() as u64 + 2);
        sink.emit(
            "index_started",
            json!({
                "mode": report.mode, "files": report.scanned,
                "to_read": changed.len(), "bytes": total_bytes, "to_remove": found.removed.len(),
                "message": format!("{} files to read ({} MB), {} to remove", changed.len(), total_bytes >> 20, found.removed.len()),
            }),
        );
        let never_committed = self.read_manifest()?.info.is_none();
        if changed.is_empty() && found.removed.is_empty() && !full && !never_committed {
            report.duration_ms = started.elapsed().as_millis() as u64;
            report.text_ms = report.duration_ms;
            return Ok(report);
        }

        let handle = self.handle();
        let text_first = total_bytes > self.text_first_over;
        let mut writer = self.take_writer(up, &handle.index, total_bytes, !text_first)?;
        if full {
            // Deletes apply to documents added before them, so the new ones survive.
            // (`delete_all_documents` would also drop what this run adds.)
            writer.delete_term(Term::from_field_text(self.f.kind, KIND_FILE));
            writer.delete_term(Term::from_field_text(self.f.kind, KIND_SYMBOL));
        }
        for rel in &found.removed {
            writer.delete_term(Term::from_field_text(self.f.path, rel));
        }
        let written = self.write_batches(
            &batches,
            &prior,
            full,
            text_first,
            &writer,
            &mut report,
            sink,
            cancel,
        );

        let info = self.commit_info(
            found.whole_tree,
            !written.cancelled,
            found.skipped_large,
            found.skipped_symlinks,
        )?;
        let mut prepared = writer.prepare_commit()?;
        prepared.set_payload(&serde_json::to_string(&info).unwrap_or_default());
        prepared.commit()?;
        self.return_writer(up, writer)?;
        handle.reader.reload()?;
        self.apply(full, &found.removed, written.updates, info)?;

        if text_first {
            // The batches and the writer's buffers are freed; give them back before the
            // symbol pass allocates its own (glibc would keep them in the threads' arenas).
            apex_core::memory::release_free_memory();
        }
        report.removed += found.removed.len() as u64;
        report.duration_ms = started.elapsed().as_millis() as u64;
        report.mb_per_s = mb_per_s(report.bytes_indexed, report.duration_ms);
        report.text_ms = report.duration_ms;
        report.text_mb_per_s = report.mb_per_s;
        report.symbols_pending = self.symbols_pending();
        if written.cancelled {
            self.finish_event(sink, &report);
            return Err(SearchError::Cancelled {
                indexed: report.added + report.updated,
            });
        }
        Ok(report)
    }

    fn read_manifest(&self) -> Result<std::sync::RwLockReadGuard<'_, Manifest>, SearchError> {
        self.manifest.read().map_err(|_| SearchError::Poisoned)
    }

    /// The files to look at in `scope`, and the indexed ones that are gone from it.
    fn candidates(
        &self,
        filter: &mut Option<PathFilter>,
        scope: Scope,
    ) -> Result<Candidates, SearchError> {
        Ok(match scope {
            Scope::All => {
                let walked = self.rules.walk_unsorted();
                *filter = None; // ignore files may have changed: judge paths afresh
                Candidates {
                    files: walked.files,
                    removed: Vec::new(), // found by `changed_files`
                    skipped_large: walked.skipped_large,
                    skipped_symlinks: walked.skipped_symlinks,
                    whole_tree: true,
                }
            }
            Scope::Paths(paths) => {
                let filter = filter.get_or_insert_with(|| self.rules.path_filter());
                let (files, removed) = self.judge_paths(filter, &paths)?;
                Candidates {
                    files,
                    removed,
                    skipped_large: 0,
                    skipped_symlinks: 0,
                    whole_tree: false,
                }
            }
        })
    }

    /// Which candidates need reading, sorted by path: new files, and those whose mtime or size
    /// moved (all of them when `full`); with what the index knew of each one it had. After a
    /// walk of the whole tree, also the indexed files it did not meet (`found.removed`),
    /// looked for only when fewer indexed files were met than the index holds.
    fn changed_files(
        &self,
        found: &mut Candidates,
        full: bool,
    ) -> Result<(Vec<WalkedFile>, HashMap<String, FileMeta>), SearchError> {
        let m = self.read_manifest()?;
        let mut prior = HashMap::new();
        let mut known = 0;
        let files = std::mem::take(&mut found.files);
        let read: Vec<bool> = files
            .iter()
            .map(|c| match m.files.get(&c.rel) {
                Some(meta) => {
                    known += 1;
                    let moved = meta.mtime_ns != c.mtime_ns || meta.size != c.size;
                    if moved || full {
                        prior.insert(c.rel.clone(), meta.clone());
                    }
                    moved || full
                }
                None => true,
            })
            .collect();
        if found.whole_tree && known < m.files.len() {
            let live: HashSet<&str> = files.iter().map(|f| f.rel.as_str()).collect();
            found.removed = m
                .files
                .keys()
                .filter(|k| !live.contains(k.as_str()))
                .cloned()
                .collect();
            found.removed.sort_unstable();
        }
        let mut changed: Vec<WalkedFile> = files
            .into_iter()
            .zip(read)
            .filter_map(|(f, read)| read.then_some(f))
            .collect();
        changed.sort_unstable_by(|a, b| a.rel.cmp(&b.rel));
        Ok((changed, prior))
    }

    /// Read, classify and hand every batch's documents to the writer, counting into `report`
    /// and reporting progress; stops between batches when cancelled.
    #[allow(clippy::too_many_arguments)]
    fn write_batches(
        &self,
        batches: &[&[WalkedFile]],
        prior: &HashMap<String, FileMeta>,
        full: bool,
        text_first: bool,
        writer: &IndexWriter,
        report: &mut IndexReport,
        sink: &dyn EventSink,
        cancel: &CancellationToken,
    ) -> Written {
        let total: usize = batches.iter().map(|b| b.len()).sum();
        let mut written = Written::default();
        let mut done = 0u64;
        let mut done_bytes = 0u64;
        for batch in batches {
            if cancel.is_cancelled() {
                written.cancelled = true;
                break;
            }
            let results: Vec<(String, Prepared)> = batch
                .par_iter()
                .map(|file| {
                    // A full rebuild re-reads everything, same content or not.
                    let known = if full { None } else { prior.get(&file.rel) };
                    let when = if text_first {
                        SymbolsNow::Defer
                    } else {
                        SymbolsNow::IfSmall
                    };
                    let p = self.prepare(file, known, writer, when);
                    (file.rel.clone(), p)
                })
                .collect();
            for (rel, p) in results {
                match p {
                    Prepared::Indexed(meta, is_binary) | Prepared::Symbols(meta, is_binary) => {
                        if is_binary {
                            report.skipped_binary += 1;
                        } else {
                            report.bytes_indexed += meta.size;
                            report.symbols_indexed += meta.symbols.unwrap_or(0) as u64;
                        }
                        if prior.contains_key(&rel) {
                            report.updated += 1;
                        } else {
                            report.added += 1;
                        }
                        written.updates.push((rel, Some(meta)));
                    }
                    Prepared::SameContent(meta) => {
                        report.unchanged_content += 1;
                        written.updates.push((rel, Some(meta)));
                    }
                    Prepared::Unreadable => {
                        if prior.contains_key(&rel) {
                            writer.delete_term(Term::from_field_text(self.f.path, &rel));
                            report.removed += 1;
                            written.updates.push((rel, None));
                        }
                    }
                }
            }
            done += batch.len() as u64;
            done_bytes += batch.iter().map(|f| f.size).sum::<u64>();
            sink.emit(
                "files_indexed",
                json!({"done": done, "total": total, "bytes": done_bytes,
                       "message": format!("{done}/{total} files")}),
            );
        }
        written
    }

    /// The payload of this commit. A walk of the whole tree says whether it completed and
    /// what it skipped; a partial update keeps what the last whole walk said.
    fn commit_info(
        &self,
        whole_tree: bool,
        finished: bool,
        skipped_large: u64,
        skipped_symlinks: u64,
    ) -> Result<CommitInfo, SearchError> {
        let last_update = apex_core::events::now_ts();
        if whole_tree {
            return Ok(CommitInfo {
                last_update,
                skipped_large,
                skipped_symlinks,
                complete: finished,
            });
        }
        let m = self.read_manifest()?;
        Ok(match &m.info {
            Some(prev) => CommitInfo {
                last_update,
                ..prev.clone()
            },
            None => CommitInfo {
                last_update,
                skipped_large,
                skipped_symlinks,
                complete: false,
            },
        })
    }

    /// Bring the manifest in step with a committed text pass.
    fn apply(
        &self,
        full: bool,
        removed: &[String],
        updates: Vec<(String, Option<FileMeta>)>,
        info: CommitInfo,
    ) -> Result<(), SearchError> {
        let mut m = self.manifest.write().map_err(|_| SearchError::Poisoned)?;
        if full {
            m.files.clear();
        }
        for rel in removed {
            m.files.remove(rel);
        }
        for (rel, meta) in updates {
            match meta {
                Some(meta) => {
                    m.files.insert(rel, meta);
                }
                None => {
                    m.files.remove(&rel);
                }
            }
        }
        m.info = Some(info);
        m.recount();
        Ok(())
    }

    /// Turn reported paths into files to check and index entries to drop.
    fn judge_paths(
        &self,
        filter: &mut PathFilter,
        paths: &[PathBuf],
    ) -> Result<(Vec<WalkedFile>, Vec<String>), SearchError> {
        let m = self.manifest.read().map_err(|_| SearchError::Poisoned)?;
        let mut files: BTreeMap<String, WalkedFile> = BTreeMap::new();
        let mut removed: HashSet<String> = HashSet::new();
        let root = self.rules.root();
        for path in paths {
            let rel = crate::walk::relative(root, path);
            match filter.judge(path) {
                PathVerdict::File(f) => {
                    files.insert(f.rel.clone(), f);
                }
                PathVerdict::Dir(dir) => {
                    let walked = self.rules.walk_from(&dir);
                    let live: HashSet<&str> = walked.files.iter().map(|f| f.rel.as_str()).collect();
                    let prefix = format!("{rel}/");
                    removed.extend(
                        m.files
                            .keys()
                            .filter(|k| k.starts_with(&prefix) && !live.contains(k.as_str()))
                            .cloned(),
                    );
                    for f in walked.files {
                        files.insert(f.rel.clone(), f);
                    }
                }
                PathVerdict::TooLarge | PathVerdict::Ignored => {
                    if m.files.contains_key(&rel) {
                        removed.insert(rel);
                    }
                }
                PathVerdict::Gone => {
                    let prefix = format!("{rel}/");
                    removed.extend(
                        m.files
                            .keys()
                            .filter(|k| **k == rel || k.starts_with(&prefix))
                            .cloned(),
                    );
                }
            }
        }
        for rel in files.keys() {
            removed.remove(rel);
        }
        let mut removed: Vec<String> = removed.into_iter().collect();
        removed.sort();
        Ok((files.into_values().collect(), removed))
    }

    /// Read one file and hand its documents to the writer.
    pub(super) fn prepare(
        &self,
        file: &WalkedFile,
        prior: Option<&FileMeta>,
        out: &dyn DocSink,
        when: SymbolsNow,
    ) -> Prepared {
        let Ok(bytes) = std::fs::read(&file.abs) else {
            return Prepared::Unreadable;
        };
        if bytes.len() as u64 > self.rules.max_file_size() {
            return Prepared::Unreadable;
        }
        let hash = xxhash_rust::xxh3::xxh3_64(&bytes);
        let size = bytes.len() as u64;
        if let Some(p) = prior
            && p.hash == hash
            && p.size == size
        {
            return Prepared::SameContent(FileMeta {
                mtime_ns: file.mtime_ns,
                ..p.clone()
            });
        }
        let f = &self.f;
        out.delete(Term::from_field_text(f.path, &file.rel));
        let probe = &bytes[..bytes.len().min(BINARY_PROBE)];
        if probe.contains(&0) {
            let meta = FileMeta {
                mtime_ns: file.mtime_ns,
                size,
                hash,
                lang: BINARY.into(),
                symbols: Some(0),
            };
            out.add(doc!(
                f.kind => KIND_FILE, f.path => file.rel.as_str(), f.file_path => file.rel.as_str(),
                f.path_hash => path_hash(&file.rel), f.lang => BINARY, f.file_lang => BINARY, f.mtime => meta.mtime_ns, f.size => size, f.hash => hash, f.nsym => 0u64,
            ));
            return Prepared::Indexed(meta, true);
        }
        let text = match String::from_utf8(bytes) {
            Ok(s) => s,
            Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
        };
        let path = Path::new(&file.rel);
        let grammar = symbols::language_for_source(path, &text);
        let lang = grammar
            .map(|l| l.name())
            .unwrap_or_else(|| language_label(path));
        let ph = path_hash(&file.rel);
        let origin = origin(&file.rel, &text);
        let symbols = match (grammar, when) {
            (Some(_), SymbolsNow::Defer) => None,
            (Some(_), SymbolsNow::IfSmall) if size > LARGE_SYMBOL_FILE => None,
            (Some(l), _) => {
                let syms = symbols::extract(l, &text);
                self.add_symbols(out, &file.rel, ph, lang, hash, origin, &syms);
                Some(syms.len() as u32)
            }
            (None, _) => Some(0),
        };
        let meta = FileMeta {
            mtime_ns: file.mtime_ns,
            size,
            hash,
            lang: lang.to_string(),
            symbols,
        };
        out.add(doc!(
            f.kind => KIND_FILE, f.path => file.rel.as_str(), f.file_path => file.rel.as_str(),
            f.path_hash => ph, f.path_text => file.rel.as_str(), f.lang => lang,
            f.file_lang => lang, f.content => text, f.mtime => meta.mtime_ns, f.size => size,
            f.hash => hash, f.rank => file_rank(origin, &file.rel),
        ));
        Prepared::Indexed(meta, false)
    }
}

/// When a text pass parses a file's symbols.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum SymbolsNow {
    /// Never: the symbol pass will (a large update commits text first).
    Defer,
    /// Unless the file is over [`LARGE_SYMBOL_FILE`].
    IfSmall,
    /// Always (the symbol pass re-indexing a file that changed since its text pass).
    Always,
}

/// Where prepared documents go: straight to the writer (the text pass), or into a buffer
/// that is committed later (the symbol pass parses before it takes the update lock).
pub(super) trait DocSink {
    fn delete(&self, term: Term);
    fn add(&self, doc: TantivyDocument);
}

impl DocSink for IndexWriter {
    fn delete(&self, term: Term) {
        self.delete_term(term);
    }
    fn add(&self, doc: TantivyDocument) {
        // Fails only when the writer's threads are gone; its commit then fails and says so.
        let _ = self.add_document(doc);
    }
}

/// Documents and deletes in the order they were prepared.
#[derive(Default)]
pub(super) struct Buffered(std::cell::RefCell<Vec<Op>>);

pub(super) enum Op {
    Delete(Term),
    Add(TantivyDocument),
}

impl DocSink for Buffered {
    fn delete(&self, term: Term) {
        self.0.borrow_mut().push(Op::Delete(term));
    }
    fn add(&self, doc: TantivyDocument) {
        self.0.borrow_mut().push(Op::Add(doc));
    }
}

impl Buffered {
    pub fn into_ops(self) -> Vec<Op> {
        self.0.into_inner()
    }
}

pub(super) enum Prepared {
    /// New or changed: documents were added. The flag says the file is binary.
    Indexed(FileMeta, bool),
    /// Symbols of a file whose text was indexed already (the symbol pass); the flag is false.
    Symbols(FileMeta, bool),
    /// Touched but identical: only the mtime moves.
    SameContent(FileMeta),
    /// Vanished or grew past the limit between the walk and the read.
    Unreadable,
}

fn batches(files: &[WalkedFile]) -> Vec<&[WalkedFile]> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut bytes = 0u64;
    for (i, f) in files.iter().enumerate() {
        bytes += f.size;
        if i + 1 - start >= BATCH_FILES || bytes >= BATCH_BYTES {
            out.push(&files[start..=i]);
            start = i + 1;
            bytes = 0;
        }
    }
    if start < files.len() {
        out.push(&files[start..]);
    }
    out
}

/// A language label for files without a symbol grammar (used by filters and statistics).
pub fn language_label(path: &Path) -> &'static str {
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default();
    match name {
        "Makefile" | "makefile" | "GNUmakefile" => return "make",
        "Dockerfile" => return "dockerfile",
        "CMakeLists.txt" => return "cmake",
        _ => {}
    }
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(|e| e.to_ascii_lowercase())
        .unwrap_or_default();
    match ext.as_str() {
        "md" | "markdown" | "mdx" => "markdown",
        "toml" => "toml",
        "json" | "jsonc" => "json",
        "yaml" | "yml" => "yaml",
        "sh" | "bash" | "zsh" => "shell",
        "html" | "htm" => "html",
        "css" | "scss" | "less" => "css",
        "sql" => "sql",
        "rb" => "ruby",
        "php" => "php",
        "kt" | "kts" => "kotlin",
        "swift" => "swift",
        "cs" => "csharp",
        "scala" => "scala",
        "lua" => "lua",
        "xml" => "xml",
        "proto" => "protobuf",
        "txt" | "rst" | "adoc" => "text",
        "cmake" => "cmake",
        _ => "other",
    }
}
