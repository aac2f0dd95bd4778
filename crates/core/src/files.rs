//! Files the server writes for itself: durable writes (temp file, fsync, rename, fsync the
//! directory), who owns a temp file (by the writer's pid) and whether that writer is still
//! alive, and what a failed write means for the user (a full disk, a read-only one).
//!
//! Every file output that a user is told was written goes through [`write_durable`] (small
//! files written whole) or [`persist`] (a temp file or directory of parts the caller wrote
//! and closed): after a crash or a power cut the name holds the old content or the new,
//! never an empty or half file.

use std::fs::File;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// Whether process `pid` is alive. Temp files and staged rows carry their writer's pid;
/// a later writer removes only those whose writer is gone.
#[cfg(target_os = "linux")]
pub fn process_alive(pid: u32) -> bool {
    std::path::Path::new(&format!("/proc/{pid}")).exists()
}

/// Without a cheap liveness check, keep the files: never delete a live writer's temp.
#[cfg(not(target_os = "linux"))]
pub fn process_alive(_pid: u32) -> bool {
    true
}

/// The hidden temp name next to `path` that a write of this process uses:
/// `.NAME.PID-RANDOM.tmp` (the writer's pid tells a later writer whether it was abandoned;
/// see [`temp_writer_pid`]).
pub fn temp_path(path: &Path) -> PathBuf {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "output".to_string());
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    let unique = xxhash_rust::xxh3::xxh3_64(
        &[
            nanos.to_le_bytes(),
            COUNTER.fetch_add(1, Ordering::Relaxed).to_le_bytes(),
        ]
        .concat(),
    );
    let tmp = format!(".{name}.{}-{unique:016x}.tmp", std::process::id());
    match path.parent() {
        Some(dir) => dir.join(tmp),
        None => PathBuf::from(tmp),
    }
}

/// The writer's pid in a temp name made by [`temp_path`]; `None` for any other name, so
/// files that are not such temps are never touched.
pub fn temp_writer_pid(name: &str) -> Option<u32> {
    let stem = name.strip_prefix('.')?.strip_suffix(".tmp")?;
    let (output, tag) = stem.rsplit_once('.')?;
    let (pid, random) = tag.split_once('-')?;
    let is_temp = !output.is_empty()
        && !pid.is_empty()
        && pid.bytes().all(|b| b.is_ascii_digit())
        && random.len() == 16
        && random.bytes().all(|b| b.is_ascii_hexdigit());
    if is_temp { pid.parse().ok() } else { None }
}

/// Write `bytes` to `path` durably: a temp file in the same directory, written and
/// `fsync`ed, renamed over `path`, then the directory `fsync`ed. When this returns `Ok`, a
/// power cut leaves `path` holding `bytes`; before, it leaves the old content (or nothing).
/// A failed write removes its temp file.
pub fn write_durable(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let tmp = temp_path(path);
    let written = (|| {
        let mut f = File::options().write(true).create_new(true).open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()
    })();
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    rename_durable(&tmp, path).inspect_err(|_| {
        let _ = std::fs::remove_file(&tmp);
    })
}

/// Put an already written and closed temp `tmp` (a file, or a directory of files such as
/// Parquet parts) at `path` durably: `fsync` its content (every file of a directory, then
/// the directory), rename it to `path`, then `fsync` the directory that holds `path`. The
/// caller removes `tmp` when this fails.
pub fn persist(tmp: &Path, path: &Path) -> io::Result<()> {
    sync_tree(tmp)?;
    rename_durable(tmp, path)
}

/// Rename `from` to `to` and `fsync` the directory of `to` (and of `from`, when another),
/// so that the rename itself survives a power cut.
pub fn rename_durable(from: &Path, to: &Path) -> io::Result<()> {
    std::fs::rename(from, to)?;
    let to_dir = parent(to);
    sync_dir(to_dir)?;
    let from_dir = parent(from);
    if from_dir != to_dir {
        sync_dir(from_dir)?;
    }
    Ok(())
}

/// `fsync` a file, or a directory's files (recursively) and then the directory itself.
pub fn sync_tree(path: &Path) -> io::Result<()> {
    let meta = std::fs::symlink_metadata(path)?;
    if !meta.is_dir() {
        return File::open(path)?.sync_all();
    }
    for entry in std::fs::read_dir(path)? {
        let entry = entry?;
        if entry.file_type()?.is_symlink() {
            continue;
        }
        sync_tree(&entry.path())?;
    }
    sync_dir(path)
}

/// `fsync` a directory, so that the names created, renamed or removed in it are on disk.
/// File systems that cannot sync a directory (EINVAL) have nothing more to give.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    match File::open(dir)?.sync_all() {
        Err(e) if e.kind() == io::ErrorKind::InvalidInput => Ok(()),
        other => other,
    }
}

/// Whether a file can be created and written in `dir` right now: writes one page to a temp
/// file there and removes it. The error says why not (no space, no permission, read-only).
pub fn probe_writable(dir: &Path) -> io::Result<()> {
    let probe = temp_path(&dir.join("probe"));
    let written = (|| {
        let mut f = File::options().write(true).create_new(true).open(&probe)?;
        f.write_all(&[0u8; 4096])?;
        f.sync_all()
    })();
    let _ = std::fs::remove_file(&probe);
    written
}

/// The directory a path lives in (`.` for a bare name).
fn parent(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// What a failed disk operation means for the user: the few causes they can act on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DiskFault {
    /// ENOSPC or EDQUOT: no space (or quota) left.
    Full,
    /// EFBIG: a file size limit (ulimit -f) was reached.
    FileTooLarge,
    /// EACCES or EPERM: no write permission.
    PermissionDenied,
    /// EROFS: the file system is mounted read-only.
    ReadOnly,
    /// EIO: the device reported an I/O error.
    Io,
}

impl DiskFault {
    /// The fault an OS error number stands for.
    pub fn from_os_error(code: i32) -> Option<Self> {
        Some(match code {
            28 | 122 => DiskFault::Full,
            27 => DiskFault::FileTooLarge,
            13 | 1 => DiskFault::PermissionDenied,
            30 => DiskFault::ReadOnly,
            5 => DiskFault::Io,
            _ => return None,
        })
    }

    /// The fault of an I/O error, when it is one a user can act on.
    pub fn of(e: &io::Error) -> Option<Self> {
        e.raw_os_error().and_then(Self::from_os_error)
    }

    /// The fault named in an error message that has lost its `io::Error` (libraries that
    /// flatten errors to text keep Rust's "(os error N)" suffix).
    pub fn in_message(message: &str) -> Option<Self> {
        message.match_indices("os error ").find_map(|(i, m)| {
            let digits: String = message[i + m.len()..]
                .chars()
                .take_while(char::is_ascii_digit)
                .collect();
            digits.parse().ok().and_then(Self::from_os_error)
        })
    }

    /// A short name: "disk full", "permission denied", ...
    pub fn label(self) -> &'static str {
        match self {
            DiskFault::Full => "disk full",
            DiskFault::FileTooLarge => "file size limit reached",
            DiskFault::PermissionDenied => "permission denied",
            DiskFault::ReadOnly => "read-only file system",
            DiskFault::Io => "I/O error",
        }
    }

    /// What the user can do about it, for a write to `path`.
    pub fn remedy(self, path: &Path) -> String {
        let dir = path.display();
        match self {
            DiskFault::Full => format!("free space on the disk that holds {dir}"),
            DiskFault::FileTooLarge => {
                "raise the file size limit (ulimit -f) of the process".to_string()
            }
            DiskFault::PermissionDenied => {
                format!("give the user running netra-apex read and write permission on {dir}")
            }
            DiskFault::ReadOnly => format!("remount the file system that holds {dir} read-write"),
            DiskFault::Io => format!("check the disk that holds {dir} (dmesg)"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durable_write_replaces_the_file_and_leaves_no_temp() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.json");
        write_durable(&path, b"one").unwrap();
        write_durable(&path, b"two").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"two");
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("out.json")]);
    }

    #[test]
    fn failed_durable_write_names_the_cause_and_keeps_the_old_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("missing-dir/out.json");
        let err = write_durable(&path, b"x").unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::NotFound);
        assert!(!path.exists());
    }

    #[test]
    fn persist_moves_a_directory_of_parts_whole() {
        let dir = tempfile::tempdir().unwrap();
        let tmp = temp_path(&dir.path().join("data.parquet"));
        std::fs::create_dir(&tmp).unwrap();
        std::fs::write(tmp.join("part-00000.parquet"), b"a").unwrap();
        std::fs::write(tmp.join("part-00001.parquet"), b"b").unwrap();
        let path = dir.path().join("data.parquet");
        persist(&tmp, &path).unwrap();
        assert!(!tmp.exists());
        assert_eq!(
            std::fs::read(path.join("part-00001.parquet")).unwrap(),
            b"b"
        );
    }

    #[test]
    fn temp_names_carry_the_writer_pid() {
        let tmp = temp_path(Path::new("/x/report.md"));
        let name = tmp.file_name().unwrap().to_str().unwrap();
        assert!(name.starts_with(".report.md."), "{name}");
        assert_eq!(temp_writer_pid(name), Some(std::process::id()));
        assert_ne!(temp_path(Path::new("/x/report.md")), tmp, "unique");
        for other in [
            "report.md",
            ".report.md.tmp",
            ".report.md.12-xyz.tmp",
            ".x.1-0.tmp",
        ] {
            assert_eq!(temp_writer_pid(other), None, "{other}");
        }
    }

    #[test]
    fn disk_faults_are_read_from_errors_and_messages() {
        let full = io::Error::from_raw_os_error(28);
        assert_eq!(DiskFault::of(&full), Some(DiskFault::Full));
        assert_eq!(
            DiskFault::in_message(&format!("IO error: {full}")),
            Some(DiskFault::Full)
        );
        assert_eq!(
            DiskFault::in_message("Permission denied (os error 13)"),
            Some(DiskFault::PermissionDenied)
        );
        assert_eq!(DiskFault::in_message("no such file (os error 2)"), None);
        assert_eq!(DiskFault::in_message("plain text"), None);
        assert!(
            DiskFault::Full
                .remedy(Path::new("/data"))
                .contains("free space")
        );
    }
}
