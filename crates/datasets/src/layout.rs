//! Where a dataset's files live:
//! `<data-dir>/datasets/dataset=<name>/day=YYYY-MM-DD/part-NNNNN.parquet` — Hive-style
//! partitions, so DuckDB, Spark and ClickHouse read the `datasets` directory as-is as one table
//! with `dataset` and `day` columns — the staging directories of writes in progress
//! (`<data-dir>/datasets/.staging/`), and the lock files (`<data-dir>/datasets/.locks/`).
//!
//! Part numbers grow per dataset and are never reused; the catalog records which range of them
//! is committed, so a part outside that range is garbage of a crashed or replaced write.

use std::path::{Path, PathBuf};

/// The directory of every dataset under a data dir.
pub fn datasets_root(data_dir: &Path) -> PathBuf {
    data_dir.join("datasets")
}

/// The directory of dataset `name`: `<root>/dataset=<name>`.
pub fn dataset_dir(root: &Path, name: &str) -> PathBuf {
    root.join(format!("dataset={name}"))
}

/// `part-00042.parquet`.
pub fn part_file_name(number: u64) -> String {
    format!("part-{number:05}.parquet")
}

/// The number of a part file name (`part-` + at least five digits + `.parquet`).
pub fn part_number(name: &str) -> Option<u64> {
    let digits = name.strip_prefix("part-")?.strip_suffix(".parquet")?;
    (digits.len() >= 5 && digits.bytes().all(|b| b.is_ascii_digit()))
        .then(|| digits.parse().ok())
        .flatten()
}

/// `day=2026-01-01`.
pub fn day_dir_name(day: &str) -> String {
    format!("day={day}")
}

/// The day of a `day=YYYY-MM-DD` directory name.
pub fn day_of_dir(name: &str) -> Option<&str> {
    let day = name.strip_prefix("day=")?;
    let b = day.as_bytes();
    let ok = b.len() == 10
        && b[4] == b'-'
        && b[7] == b'-'
        && b.iter()
            .enumerate()
            .all(|(i, c)| i == 4 || i == 7 || c.is_ascii_digit());
    ok.then_some(day)
}

/// One part file found on disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartFile {
    pub day: String,
    pub number: u64,
    pub path: PathBuf,
    pub size: u64,
}

/// Every part file under a dataset directory, sorted by day then number. Other files and
/// directories are not ours and are left out. A missing directory has no parts.
pub fn list_parts(dataset_dir: &Path) -> std::io::Result<Vec<PartFile>> {
    let mut parts = Vec::new();
    let days = match std::fs::read_dir(dataset_dir) {
        Ok(d) => d,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(parts),
        Err(e) => return Err(e),
    };
    for day in days {
        let day = day?;
        let name = day.file_name();
        let Some(day_name) = name.to_str().and_then(day_of_dir) else {
            continue;
        };
        if !day.file_type()?.is_dir() {
            continue;
        }
        for file in std::fs::read_dir(day.path())? {
            let file = file?;
            let Some(number) = file.file_name().to_str().and_then(part_number) else {
                continue;
            };
            let meta = file.metadata()?;
            if meta.is_file() {
                parts.push(PartFile {
                    day: day_name.to_string(),
                    number,
                    path: file.path(),
                    size: meta.len(),
                });
            }
        }
    }
    parts.sort_by(|a, b| (&a.day, a.number).cmp(&(&b.day, b.number)));
    Ok(parts)
}

/// The staging directory of one write: `.staging/<name>.<pid>-<unique>`; the writer's pid
/// tells a later writer whether it is abandoned.
pub fn staging_dir(root: &Path, name: &str, unique: u64) -> PathBuf {
    root.join(".staging")
        .join(format!("{name}.{}-{unique:016x}", std::process::id()))
}

/// A scratch directory of this process under `.staging/` (a report's spilled aggregates):
/// removed with everything in it when dropped, and by [`remove_abandoned_staging`] when the
/// process was killed first. It holds no part and is never committed.
#[derive(Debug)]
pub struct Scratch {
    dir: PathBuf,
}

impl Scratch {
    /// Create a scratch directory named after `purpose` under `root` (a datasets dir).
    pub fn create(root: &Path, purpose: &str) -> std::io::Result<Scratch> {
        let dir = staging_dir(root, purpose, unique());
        std::fs::create_dir_all(&dir)?;
        Ok(Scratch { dir })
    }

    pub fn path(&self) -> &Path {
        &self.dir
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A value unique to this call: the staging directory's suffix.
pub(crate) fn unique() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0),
    );
    h.finish()
}

/// The writer pid of a staging directory name (see [`staging_dir`]).
pub fn staging_pid(dir_name: &str) -> Option<u32> {
    let (_, tag) = dir_name.rsplit_once('.')?;
    let (pid, unique) = tag.split_once('-')?;
    (unique.len() == 16 && unique.bytes().all(|b| b.is_ascii_hexdigit()))
        .then(|| pid.parse().ok())
        .flatten()
}

/// Remove staging directories whose writer process is gone (killed mid-write). Their parts
/// were never visible. Returns how many were removed.
pub fn remove_abandoned_staging(root: &Path) -> usize {
    let Ok(entries) = std::fs::read_dir(root.join(".staging")) else {
        return 0;
    };
    let mut removed = 0;
    for entry in entries.flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(staging_pid) else {
            continue;
        };
        if pid != std::process::id()
            && !apex_core::files::process_alive(pid)
            && std::fs::remove_dir_all(entry.path()).is_ok()
        {
            removed += 1;
        }
    }
    removed
}

/// fsync a directory, so that renames into it survive a power loss.
pub fn sync_dir(dir: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        std::fs::File::open(dir)?.sync_all()
    }
    #[cfg(not(unix))]
    {
        let _ = dir;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_foreign_names_are_not_ours() {
        assert_eq!(part_file_name(7), "part-00007.parquet");
        assert_eq!(part_number("part-00007.parquet"), Some(7));
        assert_eq!(part_number("part-1234567.parquet"), Some(1_234_567));
        for foreign in [
            "part-7.parquet",
            "part-0000x.parquet",
            "x.parquet",
            "part-00001.csv",
        ] {
            assert_eq!(part_number(foreign), None, "{foreign}");
        }
        assert_eq!(day_of_dir("day=2026-01-31"), Some("2026-01-31"));
        assert_eq!(day_of_dir("day=2026-1-31"), None);
        assert_eq!(day_of_dir("month=2026-01"), None);
        let dir = staging_dir(Path::new("/d"), "shop.v2", 0xab);
        let name = dir.file_name().unwrap().to_str().unwrap();
        assert_eq!(staging_pid(name), Some(std::process::id()));
        assert_eq!(staging_pid("shop"), None);
    }
}
