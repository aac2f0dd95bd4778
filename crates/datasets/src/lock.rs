//! Advisory file locks (`flock`) between the processes that share a data dir: one writer per
//! dataset at a time, and readers that keep a replaced dataset's old parts from being deleted
//! under a running query. The kernel releases a lock when its holder dies, so a killed writer
//! never leaves a dataset locked.

use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};

/// A held lock; released on drop.
#[derive(Debug)]
pub struct FileLock {
    _file: File,
    path: PathBuf,
}

impl FileLock {
    pub fn path(&self) -> &Path {
        &self.path
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Shared,
    Exclusive,
}

/// Take the lock at `path` (creating the file), waiting for it when `wait`; `Ok(None)` when
/// it is held elsewhere and `wait` is false.
pub fn lock(path: &Path, mode: Mode, wait: bool) -> std::io::Result<Option<FileLock>> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .open(path)?;
    if !flock(&file, mode, wait)? {
        return Ok(None);
    }
    Ok(Some(FileLock {
        _file: file,
        path: path.to_path_buf(),
    }))
}

#[cfg(unix)]
fn flock(file: &File, mode: Mode, wait: bool) -> std::io::Result<bool> {
    use std::os::fd::AsRawFd;
    let mut op = match mode {
        Mode::Shared => libc::LOCK_SH,
        Mode::Exclusive => libc::LOCK_EX,
    };
    if !wait {
        op |= libc::LOCK_NB;
    }
    loop {
        // SAFETY: flock on a file descriptor this File owns for the call's duration.
        let rc = unsafe { libc::flock(file.as_raw_fd(), op) };
        if rc == 0 {
            return Ok(true);
        }
        let err = std::io::Error::last_os_error();
        match err.raw_os_error() {
            Some(libc::EINTR) => continue,
            Some(libc::EWOULDBLOCK) if !wait => return Ok(false),
            _ => return Err(err),
        }
    }
}

/// Without flock every lock is granted: one process per data dir is then the user's rule.
#[cfg(not(unix))]
fn flock(_file: &File, _mode: Mode, _wait: bool) -> std::io::Result<bool> {
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exclusive_excludes_and_shared_shares() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.lock");
        let a = lock(&p, Mode::Exclusive, false).unwrap();
        assert!(a.is_some());
        assert!(lock(&p, Mode::Exclusive, false).unwrap().is_none());
        assert!(lock(&p, Mode::Shared, false).unwrap().is_none());
        drop(a);
        let s1 = lock(&p, Mode::Shared, false).unwrap();
        let s2 = lock(&p, Mode::Shared, false).unwrap();
        assert!(s1.is_some() && s2.is_some());
        assert!(lock(&p, Mode::Exclusive, false).unwrap().is_none());
    }
}
