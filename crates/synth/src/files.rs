//! File outputs of a generation: a temp file (or a temp directory of Parquet part files)
//! next to the output, written in full and only then renamed into place, so a reader never
//! sees half an output; temp files of killed generations are recognised by their writer's
//! pid and removed. It does not generate anything (that is `run`).

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use parquet::arrow::ArrowWriter;
use parquet::file::properties::WriterProperties;

use super::encode;
use super::quality::ChunkStats;
use super::run::{ChunkOut, Payload, Run};
use super::{Format, SynthError, fresh_seed};

impl Run<'_> {
    /// Stream to a temp file next to `path`, renamed into place only when complete. Parquet
    /// past [`Run::part_rows`] rows goes to a temp directory of part files instead, renamed
    /// into place whole the same way. Returns the number of parts when it wrote a directory.
    pub(crate) fn to_file(
        &self,
        format: Format,
        path: &Path,
    ) -> Result<(ChunkStats, Option<u64>), SynthError> {
        let io = |e: &dyn std::fmt::Display| SynthError::Io {
            path: path.to_path_buf(),
            message: e.to_string(),
        };
        let dir = path
            .parent()
            .ok_or_else(|| SynthError::invalid("output", "has no parent directory"))?;
        std::fs::create_dir_all(dir).map_err(|e| {
            SynthError::invalid("output", format!("cannot create {}: {e}", dir.display()))
        })?;
        let file_name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let removed = remove_abandoned_temps(dir);
        if removed > 0 {
            tracing::info!(
                "removed {removed} abandoned generation temp file(s) in {}",
                dir.display()
            );
        }
        let tmp = dir.join(temp_name(&file_name, std::process::id(), fresh_seed()));
        // The record count is known up front, so whether the output is one file or a
        // directory of parts never depends on timing or threads.
        let parts = format == Format::Parquet && self.plan.total > self.part_rows;
        let not_writable = |e: std::io::Error| {
            SynthError::invalid("output", format!("{} is not writable: {e}", dir.display()))
        };
        let (file, parts_dir) = if parts {
            std::fs::create_dir(&tmp).map_err(not_writable)?;
            match File::create(tmp.join(part_name(0))) {
                Ok(f) => (f, Some(tmp.as_path())),
                Err(e) => {
                    remove_part_dir(&tmp);
                    return Err(not_writable(e));
                }
            }
        } else {
            (File::create(&tmp).map_err(not_writable)?, None)
        };
        let result = self.write_file(format, file, &tmp, parts_dir);
        let remove_tmp = || {
            if parts {
                remove_part_dir(&tmp);
            } else {
                let _ = std::fs::remove_file(&tmp);
            }
        };
        match result {
            Ok((stats, written)) => {
                install(&tmp, path, dir, &file_name).map_err(|e| {
                    remove_tmp();
                    io(&e)
                })?;
                Ok((stats, parts.then_some(written)))
            }
            Err(e) => {
                remove_tmp();
                Err(explain_write_error(e, path))
            }
        }
    }

    /// Write every chunk to `file` (the first part file in `parts_dir` when given). Returns
    /// the stats and the number of files written.
    fn write_file(
        &self,
        format: Format,
        file: File,
        tmp: &Path,
        parts_dir: Option<&Path>,
    ) -> Result<(ChunkStats, u64), SynthError> {
        let io = |e: &dyn std::fmt::Display| SynthError::Io {
            path: tmp.to_path_buf(),
            message: e.to_string(),
        };
        // files carry the per-call columns only (synthetic records are single clean calls)
        let schema = apex_datasets::schema::record_schema();
        enum Writer {
            Plain(BufWriter<File>),
            Parquet(Box<ParquetSink>),
        }
        let mut writer = match format {
            Format::Parquet => {
                // One definition of how Parquet is written, shared with datasets: see
                // `apex_datasets::schema::writer_properties`.
                let props = apex_datasets::schema::writer_properties();
                let writer = ArrowWriter::try_new(file, schema.clone(), Some(props.clone()))
                    .map_err(|e| io(&e))?;
                Writer::Parquet(Box::new(ParquetSink {
                    writer: Some(writer),
                    props,
                    schema: schema.clone(),
                    dir: parts_dir.map(Path::to_path_buf),
                    part_rows: if parts_dir.is_some() {
                        self.part_rows
                    } else {
                        u64::MAX
                    },
                    rows_in_part: 0,
                    parts: 1,
                }))
            }
            _ => {
                let mut w = BufWriter::with_capacity(1 << 20, file);
                if format == Format::Csv {
                    w.write_all(&encode::csv_header()).map_err(|e| io(&e))?;
                }
                Writer::Plain(w)
            }
        };
        let mut stats = ChunkStats::new(self.plan.models.len());
        let mut done = 0u64;
        let mut next_mark = self.progress.mark_after(0);
        let mut pending: Option<Vec<ChunkOut>> = None;
        let mut next_chunk = 0u64;
        loop {
            if let Some(e) = self.cancelled(done) {
                return Err(e);
            }
            let write = |outs: Vec<ChunkOut>,
                         writer: &mut Writer,
                         stats: &mut ChunkStats|
             -> Result<u64, SynthError> {
                let mut n = 0;
                for out in outs {
                    match (out.payload, &mut *writer) {
                        (Payload::Bytes(b), Writer::Plain(w)) => {
                            w.write_all(&b).map_err(|e| io(&e))?;
                            self.spare.give(b);
                        }
                        (Payload::Batch(b), Writer::Parquet(w)) => {
                            w.write(&b).map_err(|e| io(&e))?
                        }
                        _ => return Err(io(&"internal: payload does not match the writer")),
                    }
                    stats.merge(&out.stats);
                    n += out.records;
                }
                Ok(n)
            };
            let to_write = pending.take();
            let had_pending = to_write.is_some();
            let (written, produced) = self.pool.install(|| {
                rayon::join(
                    || {
                        to_write
                            .map(|outs| write(outs, &mut writer, &mut stats))
                            .transpose()
                    },
                    || self.generate_group(next_chunk, format, &schema),
                )
            });
            if let Some(n) = written? {
                done += n;
                self.report(done, &mut next_mark);
            }
            match produced {
                Some(outs) => {
                    pending = Some(outs?);
                    next_chunk += self.progress.group_chunks();
                }
                None if had_pending => {}
                None => break,
            }
        }
        let files = match writer {
            Writer::Plain(mut w) => {
                // No fsync: readers see the file only after the rename, whole; forcing it to
                // disk would cap generation at the disk's write speed (140 MB/s here).
                w.flush().map_err(|e| io(&e))?;
                1
            }
            Writer::Parquet(w) => w.close().map_err(|e| io(&e))?,
        };
        Ok((stats, files))
    }
}

/// Parquet output: one file, or part files in a directory, closing a part and starting the
/// next every `part_rows` rows so the writer's per-row-group metadata is freed (see
/// [`PARQUET_PART_ROWS`]). Parts are cut at fixed row counts, so they are the same bytes
/// for any number of threads.
struct ParquetSink {
    /// The open part; `None` only between closing one part and opening the next.
    writer: Option<ArrowWriter<File>>,
    props: WriterProperties,
    schema: arrow::datatypes::SchemaRef,
    /// The (temp) directory of the parts; `None` for a single file.
    dir: Option<PathBuf>,
    part_rows: u64,
    rows_in_part: u64,
    /// Parts opened so far.
    parts: u64,
}

impl ParquetSink {
    fn write(&mut self, batch: &arrow::record_batch::RecordBatch) -> Result<(), String> {
        let n = batch.num_rows();
        let mut offset = 0;
        while offset < n {
            // Roll over only when more rows come, so no part is ever empty.
            if self.rows_in_part >= self.part_rows {
                self.roll()?;
            }
            let room = (self.part_rows - self.rows_in_part).min((n - offset) as u64) as usize;
            let writer = self
                .writer
                .as_mut()
                .ok_or("internal: no open parquet part")?;
            if room == n {
                writer.write(batch)
            } else {
                writer.write(&batch.slice(offset, room))
            }
            .map_err(|e| e.to_string())?;
            self.rows_in_part += room as u64;
            offset += room;
        }
        Ok(())
    }

    /// Close the current part (writing its footer and freeing its metadata) and open the next.
    fn roll(&mut self) -> Result<(), String> {
        let dir = self
            .dir
            .as_ref()
            .ok_or("internal: a single-file parquet output cannot roll over")?;
        if let Some(w) = self.writer.take() {
            w.close().map_err(|e| e.to_string())?;
        }
        let path = dir.join(part_name(self.parts));
        let file = File::create(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        self.writer = Some(
            ArrowWriter::try_new(file, self.schema.clone(), Some(self.props.clone()))
                .map_err(|e| e.to_string())?,
        );
        self.parts += 1;
        self.rows_in_part = 0;
        Ok(())
    }

    /// Close the last part; returns the number of parts written.
    fn close(mut self) -> Result<u64, String> {
        if let Some(w) = self.writer.take() {
            w.close().map_err(|e| e.to_string())?;
        }
        Ok(self.parts)
    }
}

/// The name of part `index` in a Parquet part directory: `part-00000.parquet`, ...
pub(crate) fn part_name(index: u64) -> String {
    format!("part-{index:05}.parquet")
}

/// Whether `name` is a part file name (`part-` + at least five digits + `.parquet`).
pub(crate) fn is_part_name(name: &str) -> bool {
    name.strip_prefix("part-")
        .and_then(|r| r.strip_suffix(".parquet"))
        .is_some_and(|d| d.len() >= 5 && d.bytes().all(|b| b.is_ascii_digit()))
}

/// The files of a directory that holds nothing but part files (see [`part_name`]); `None`
/// when it holds anything else (or cannot be read), so it is not ours to replace or remove.
pub(crate) fn part_files(dir: &Path) -> Option<Vec<PathBuf>> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).ok()? {
        let entry = entry.ok()?;
        let is_file = entry.file_type().ok()?.is_file();
        let name = entry.file_name();
        if !is_file || !name.to_str().is_some_and(is_part_name) {
            return None;
        }
        files.push(entry.path());
    }
    files.sort();
    Some(files)
}

/// Whether `path` is a directory written by an earlier Parquet generation: at least one part
/// file and nothing else. Only such a directory is ever replaced at an output path.
pub(crate) fn is_part_dir(path: &Path) -> bool {
    path.is_dir() && part_files(path).is_some_and(|f| !f.is_empty())
}

/// Remove a part directory: its part files, then the directory. Anything else in it (not
/// ours) leaves the directory as it is. Returns whether the directory is gone.
pub(crate) fn remove_part_dir(dir: &Path) -> bool {
    let Some(files) = part_files(dir) else {
        return false;
    };
    for f in files {
        let _ = std::fs::remove_file(f);
    }
    std::fs::remove_dir(dir).is_ok()
}

/// Move a finished temp output (`tmp`, a file or a part directory) to `path`, durably (its
/// data synced before the rename, the directory after: [`apex_core::files::persist`]). A
/// file over a file (or nothing) is one rename, as always. Anything else at `path` (a part directory of
/// an earlier run, or a file where a directory now goes) cannot be renamed over, so it is
/// first renamed aside to a temp name of this process (a kill before its removal leaves it
/// to [`remove_abandoned_temps`]), the new output renamed into place, then the old removed.
pub(crate) fn install(tmp: &Path, path: &Path, dir: &Path, file_name: &str) -> Result<(), String> {
    let old = std::fs::symlink_metadata(path).ok();
    let old_is_dir = old.as_ref().is_some_and(|m| m.is_dir());
    if old.is_none() || (!old_is_dir && !tmp.is_dir()) {
        return apex_core::files::persist(tmp, path).map_err(|e| e.to_string());
    }
    if old_is_dir && !is_part_dir(path) {
        return Err(format!(
            "{} is now a directory that this generator did not write; it was left as it is",
            path.display()
        ));
    }
    let aside = dir.join(temp_name(file_name, std::process::id(), fresh_seed()));
    std::fs::rename(path, &aside)
        .map_err(|e| format!("cannot move the earlier output aside: {e}"))?;
    if let Err(e) = apex_core::files::persist(tmp, path) {
        // Put the earlier output back.
        let _ = std::fs::rename(&aside, path);
        return Err(e.to_string());
    }
    if old_is_dir {
        remove_part_dir(&aside);
    } else {
        let _ = std::fs::remove_file(&aside);
    }
    Ok(())
}

/// The hidden temp file a generation writes next to its output NAME: `.NAME.PID-RANDOM.tmp`,
/// renamed to NAME when complete. The writer's pid tells a later generation whether the temp
/// is abandoned (its writer was killed) or still being written.
pub(crate) fn temp_name(file_name: &str, pid: u32, random: u64) -> String {
    format!(".{file_name}.{pid}-{random:016x}.tmp")
}

// The writer's pid in a generation temp file name: `temp_name` writes the format of
// `apex_core::files::temp_path`, so core parses it.
pub(crate) use apex_core::files::temp_writer_pid;

/// Remove the generation temp files in `dir` whose writer is no longer running (a generation
/// killed mid-way, e.g. by SIGKILL), and temp part directories that hold nothing but parts. Run at the start of every file generation into `dir`.
/// Returns how many were removed; errors (a temp vanishing meanwhile) are skipped.
pub fn remove_abandoned_temps(dir: &Path) -> usize {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    let mut removed = 0;
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name.to_str().and_then(temp_writer_pid) else {
            continue;
        };
        let Ok(kind) = entry.file_type() else {
            continue;
        };
        if apex_core::files::process_alive(pid) {
            continue;
        }
        // A temp directory (Parquet parts) goes only when it holds nothing but part files.
        let gone = if kind.is_file() {
            std::fs::remove_file(entry.path()).is_ok()
        } else {
            kind.is_dir() && remove_part_dir(&entry.path())
        };
        if gone {
            removed += 1;
        }
    }
    removed
}

/// A failed write names the output (not its temp file) and, when the OS said so, that the
/// disk is full (ENOSPC) or a file size limit was reached (EFBIG).
pub(crate) fn explain_write_error(e: SynthError, path: &Path) -> SynthError {
    match e {
        SynthError::Io { message, .. } => {
            let full = ["os error 28", "os error 27"]
                .iter()
                .any(|code| message.contains(code));
            let message = if full {
                format!(
                    "the disk is full or a file size limit was reached ({message}); free space and retry; the partial output was removed"
                )
            } else {
                format!("{message}; the partial output was removed")
            };
            SynthError::Io {
                path: path.to_path_buf(),
                message,
            }
        }
        other => other,
    }
}
