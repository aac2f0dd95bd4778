//! The SQLite store: one database per data dir, WAL, numbered migrations, opened once and
//! shared by every client of the server.
//!
//! The store owns SQL. Other modules call the typed functions of its submodules (one per
//! table family); they never build SQL strings. It knows nothing of MCP.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use rusqlite::{Connection, OpenFlags};

pub mod contexts;
pub mod datasets;
pub mod runs;
pub mod tasks;
pub mod testruns;
pub mod watch;

/// The numbered migrations, applied in order; `PRAGMA user_version` records the last one.
/// Never edit a migration that has shipped: add the next number.
const MIGRATIONS: &[(i64, &str, &str)] = &[
    (1, "core", include_str!("sql/001_core.sql")),
    (2, "datasets", include_str!("sql/002_datasets.sql")),
    (3, "contexts", include_str!("sql/003_contexts.sql")),
    (4, "testruns", include_str!("sql/004_testruns.sql")),
    (5, "tasks", include_str!("sql/005_tasks.sql")),
    (
        6,
        "parquet_datasets",
        include_str!("sql/006_parquet_datasets.sql"),
    ),
    (
        7,
        "dataset_rollups",
        include_str!("sql/007_dataset_rollups.sql"),
    ),
];

/// The newest schema version this binary knows.
pub fn schema_version() -> i64 {
    MIGRATIONS.last().map(|m| m.0).unwrap_or(0)
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(
        "{path} is not a Netra Apex database or is damaged ({message}); move it aside and the server will create a new one"
    )]
    Corrupt { path: PathBuf, message: String },
    #[error(
        "{path} has schema version {found}, newer than this netra-apex knows ({known}); upgrade netra-apex or use another --data-dir"
    )]
    NewerSchema {
        path: PathBuf,
        found: i64,
        known: i64,
    },
    #[error(
        "cannot write the store {path}: the disk is full or a file size limit was reached; free space on that disk and retry (nothing of this write was kept)"
    )]
    Full { path: PathBuf, message: String },
    #[error(
        "cannot write the store {path}: it is open read-only ({reason}); reads work, and writes resume by themselves once that is fixed"
    )]
    ReadOnly { path: PathBuf, reason: String },
    #[error("cannot open database {path}: {message}")]
    Open { path: PathBuf, message: String },
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("{0}")]
    Invalid(String),
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// The store. Writes go through one connection behind a mutex (SQLite has one writer);
/// reads take a connection from a small pool so they never wait for a writer (WAL).
///
/// A store whose file cannot be opened for writing (a read-only or full disk, no write
/// permission) can still be opened read-only ([`Store::open_or_read_only`]): reads work,
/// writes answer [`StoreError::ReadOnly`], and the writer is opened again by the first write
/// after the cause is gone.
pub struct Store {
    path: PathBuf,
    /// `None` while the store is read-only.
    writer: Mutex<Option<Connection>>,
    readers: Mutex<Vec<Connection>>,
    /// Why the store is read-only, and when opening the writer was last tried.
    read_only: Mutex<Option<(String, Instant)>>,
    /// Readers open the file as immutable (read-only directory, no write-ahead log).
    immutable: std::sync::atomic::AtomicBool,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("path", &self.path).finish()
    }
}

/// How often a read-only store tries to open its writer again, at most.
const REOPEN_EVERY: Duration = Duration::from_secs(2);

impl Store {
    /// Open (creating if needed) the database at `path` and bring its schema up to date.
    pub fn open(path: &Path) -> Result<Self> {
        let conn = open_writer(path)?;
        Ok(Self {
            path: path.to_path_buf(),
            writer: Mutex::new(Some(conn)),
            readers: Mutex::new(Vec::new()),
            read_only: Mutex::new(None),
            immutable: std::sync::atomic::AtomicBool::new(false),
        })
    }

    /// Like [`Store::open`]; when the database cannot be opened for writing because of the
    /// disk (full, read-only, no permission), open it read-only instead and say why. A
    /// damaged database or one of a newer schema is refused either way.
    pub fn open_or_read_only(path: &Path) -> Result<Self> {
        let err = match Self::open(path) {
            Ok(store) => return Ok(store),
            Err(e) => e,
        };
        let Some(reason) = disk_reason(&err) else {
            return Err(err);
        };
        let store = Self {
            path: path.to_path_buf(),
            writer: Mutex::new(None),
            readers: Mutex::new(Vec::new()),
            read_only: Mutex::new(Some((reason, Instant::now()))),
            immutable: std::sync::atomic::AtomicBool::new(false),
        };
        // It must be readable, and of the schema this binary reads.
        let version = |s: &Store| {
            s.read(|c| Ok(c.pragma_query_value(None, "user_version", |r| r.get::<_, i64>(0))?))
        };
        let found = match version(&store) {
            Ok(v) => v,
            Err(_) if !store.wal_path().exists() => {
                store
                    .immutable
                    .store(true, std::sync::atomic::Ordering::Relaxed);
                version(&store).map_err(|_| err)?
            }
            Err(_) => return Err(err),
        };
        if found != schema_version() {
            return Err(StoreError::Open {
                path: path.to_path_buf(),
                message: format!(
                    "it is read-only here ({}) and its schema (version {found}) needs an upgrade to {} that cannot be written",
                    store.read_only_reason().unwrap_or_default(),
                    schema_version()
                ),
            });
        }
        Ok(store)
    }

    /// Why the store is read-only, when it is.
    pub fn read_only_reason(&self) -> Option<String> {
        self.read_only
            .lock()
            .ok()
            .and_then(|r| r.as_ref().map(|(why, _)| why.clone()))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Run `f` with the writer connection. Keep it short: every other writer waits.
    ///
    /// Its commit is durable before this returns (`synchronous=FULL`: the WAL is fsynced
    /// at commit), and so is every earlier commit, [`Store::write_bulk`]'s included. A write
    /// that fails on a full disk gives the space its rolled-back pages took back.
    pub fn write<T>(&self, f: impl FnOnce(&mut Connection) -> Result<T>) -> Result<T> {
        let mut guard = self
            .writer
            .lock()
            .map_err(|_| StoreError::Invalid("store writer lock poisoned".into()))?;
        if guard.is_none() {
            *guard = Some(self.reopen_writer()?);
        }
        let Some(conn) = guard.as_mut() else {
            return Err(StoreError::Invalid("store writer missing".into()));
        };
        let out = f(conn).map_err(|e| self.explain(e));
        if matches!(out, Err(StoreError::Full { .. })) {
            self.reclaim_locked(conn);
        }
        out
    }

    /// The writer of a read-only store, opened again when the cause is gone; tried at most
    /// every [`REOPEN_EVERY`], else the read-only error at once.
    fn reopen_writer(&self) -> Result<Connection> {
        let mut state = self
            .read_only
            .lock()
            .map_err(|_| StoreError::Invalid("store state lock poisoned".into()))?;
        let (reason, tried) = state
            .clone()
            .unwrap_or_else(|| ("the writer is closed".to_string(), Instant::now()));
        let read_only = || StoreError::ReadOnly {
            path: self.path.clone(),
            reason: reason.clone(),
        };
        if tried.elapsed() < REOPEN_EVERY {
            return Err(read_only());
        }
        match open_writer(&self.path) {
            Ok(conn) => {
                tracing::info!(store = %self.path.display(), "the store is writable again");
                *state = None;
                Ok(conn)
            }
            Err(e) => {
                *state = Some((disk_reason(&e).unwrap_or(reason.clone()), Instant::now()));
                Err(read_only())
            }
        }
    }

    /// Like [`Store::write`] for rows whose durability a later [`Store::write`] settles: a
    /// run's events before the run's end is recorded, test results before their run ends,
    /// staged dataset rows before the dataset is registered. Their commits survive a killed
    /// process at once, and a power cut from the next durable commit on (the WAL is synced
    /// as a whole), without one fsync per row.
    pub fn write_bulk<T>(&self, f: impl FnOnce(&mut Connection) -> Result<T>) -> Result<T> {
        self.write(|c| {
            c.pragma_update(None, "synchronous", "NORMAL")?;
            let out = f(c);
            let restored = c.pragma_update(None, "synchronous", "FULL");
            let out = out?;
            restored?;
            Ok(out)
        })
    }

    /// Give back the disk space that rolled-back or deleted bulk rows left in the write-ahead
    /// log: checkpoint it and truncate it to nothing. Call after a failed or cancelled bulk
    /// write. Best effort: a reader in the middle of a long query keeps the log as it is.
    pub fn reclaim_space(&self) {
        if let Ok(conn) = self.writer.lock()
            && let Some(conn) = conn.as_ref()
        {
            self.reclaim_locked(conn);
        }
    }

    fn reclaim_locked(&self, conn: &Connection) {
        let wal = self.wal_path();
        let before = std::fs::metadata(&wal).map_or(0, |m| m.len());
        if before == 0 {
            return;
        }
        // Readers that hold the log are waited for briefly, not for the usual 10 s.
        let _ = conn.busy_timeout(Duration::from_millis(500));
        let done = conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| {
            r.get::<_, i64>(0)
        });
        let _ = conn.busy_timeout(WRITE_BUSY_TIMEOUT);
        let after = std::fs::metadata(&wal).map_or(0, |m| m.len());
        match done {
            Ok(0) => {
                tracing::info!(wal = %wal.display(), before, after, "write-ahead log truncated")
            }
            other => tracing::debug!(
                wal = %wal.display(),
                before,
                after,
                result = ?other.map_err(|e| e.to_string()),
                "the write-ahead log could not be truncated; it is reused by later writes"
            ),
        }
    }

    /// The store's write-ahead log (`apex.db-wal`).
    pub fn wal_path(&self) -> PathBuf {
        let mut p = self.path.clone().into_os_string();
        p.push("-wal");
        PathBuf::from(p)
    }

    /// Name a failed write for what it most likely is: a full disk (or a file size limit)
    /// surfaces from SQLite as "database or disk is full" or as a write I/O error.
    pub fn explain(&self, e: StoreError) -> StoreError {
        match e {
            StoreError::Sqlite(ref inner) if is_disk_full(inner) => StoreError::Full {
                path: self.path.clone(),
                message: inner.to_string(),
            },
            other => other,
        }
    }

    /// Run `f` with a reader connection (read-only, WAL snapshot).
    pub fn read<T>(&self, f: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
        let pooled = self.readers.lock().ok().and_then(|mut r| r.pop());
        let conn = match pooled {
            Some(c) => c,
            None => self.open_reader()?,
        };
        let out = f(&conn);
        if let Ok(mut r) = self.readers.lock()
            && r.len() < 8
        {
            r.push(conn);
        }
        out
    }

    /// A fresh read-only connection, for work that must not share a pooled one
    /// (e.g. `query_data`, which installs a progress handler to bound its time).
    pub fn open_reader(&self) -> Result<Connection> {
        let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = if self.immutable.load(std::sync::atomic::Ordering::Relaxed) {
            // A read-only directory cannot take the shared-memory file a WAL reader needs;
            // with no log to read, the file alone is the whole database.
            let uri = format!("file:{}?immutable=1", self.path.display());
            Connection::open_with_flags(uri, flags | OpenFlags::SQLITE_OPEN_URI)
        } else {
            Connection::open_with_flags(&self.path, flags)
        }
        .map_err(|e| classify(&self.path, e))?;
        conn.busy_timeout(Duration::from_secs(5))?;
        Ok(conn)
    }
}

/// How long a writer waits for another (another process on the same data dir).
const WRITE_BUSY_TIMEOUT: Duration = Duration::from_secs(10);

fn configure(conn: &Connection) -> rusqlite::Result<()> {
    conn.busy_timeout(WRITE_BUSY_TIMEOUT)?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    // Every commit is durable on power loss before it returns; bulk rows opt out per
    // write (`Store::write_bulk`) until a durable commit settles them.
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    Ok(())
}

/// Open the writer connection, configure it and bring the schema up to date.
fn open_writer(path: &Path) -> Result<Connection> {
    let conn = Connection::open(path).map_err(|e| classify(path, e))?;
    configure(&conn).map_err(|e| classify(path, e))?;
    migrate(path, &conn)?;
    // A file that is not writable opens read-only without a word: find out now, and why.
    if conn.is_readonly(rusqlite::MAIN_DB).unwrap_or(false) {
        let why = std::fs::OpenOptions::new()
            .write(true)
            .open(path)
            .err()
            .map_or_else(|| "opened read-only".to_string(), |e| e.to_string());
        return Err(StoreError::Open {
            path: path.to_path_buf(),
            message: format!("the file is not writable ({why})"),
        });
    }
    Ok(conn)
}

/// What about the disk kept a store from being opened for writing, with what to do about
/// it; `None` when the cause is not the disk (a damaged file, a newer schema).
fn disk_reason(e: &StoreError) -> Option<String> {
    let (path, message) = match e {
        StoreError::Open { path, message } | StoreError::Full { path, message } => {
            (path, message.as_str())
        }
        StoreError::Invalid(m) if m.contains("migration") => return None,
        _ => return None,
    };
    use apex_core::files::{DiskFault, probe_writable};
    let dir = path.parent().unwrap_or(path);
    // SQLite often says only "unable to open database file" or "disk I/O error": the
    // directory (where the log and shared-memory files go) tells the cause.
    let (fault, message) = match DiskFault::in_message(message) {
        Some(f) => (f, message.to_string()),
        None if message.to_ascii_lowercase().contains("disk is full") => {
            (DiskFault::Full, message.to_string())
        }
        None => match probe_writable(dir) {
            Err(probe) => (DiskFault::of(&probe)?, format!("{message}: {probe}")),
            Ok(()) => return None,
        },
    };
    Some(format!(
        "{}: {message}; {}",
        fault.label(),
        fault.remedy(dir)
    ))
}

fn is_disk_full(e: &rusqlite::Error) -> bool {
    matches!(
        e.sqlite_error_code(),
        Some(rusqlite::ErrorCode::DiskFull) | Some(rusqlite::ErrorCode::SystemIoFailure)
    )
}

fn classify(path: &Path, e: rusqlite::Error) -> StoreError {
    let message = e.to_string();
    let corrupt = matches!(
        e.sqlite_error_code(),
        Some(rusqlite::ErrorCode::NotADatabase) | Some(rusqlite::ErrorCode::DatabaseCorrupt)
    );
    if corrupt {
        StoreError::Corrupt {
            path: path.to_path_buf(),
            message,
        }
    } else {
        StoreError::Open {
            path: path.to_path_buf(),
            message,
        }
    }
}

fn migrate(path: &Path, conn: &Connection) -> Result<()> {
    let found: i64 = conn
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .map_err(|e| classify(path, e))?;
    let known = schema_version();
    if found > known {
        return Err(StoreError::NewerSchema {
            path: path.to_path_buf(),
            found,
            known,
        });
    }
    for (version, name, sql) in MIGRATIONS.iter().filter(|m| m.0 > found) {
        // A second server may be migrating the same file; IMMEDIATE takes the write lock
        // first, and the version is re-read inside the transaction.
        conn.execute_batch("BEGIN IMMEDIATE")
            .map_err(|e| classify(path, e))?;
        let current: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
        if current >= *version {
            conn.execute_batch("COMMIT")?;
            continue;
        }
        let applied = conn
            .execute_batch(sql)
            .and_then(|_| conn.pragma_update(None, "user_version", version));
        match applied {
            Ok(()) => conn.execute_batch("COMMIT")?,
            Err(e) => {
                let _ = conn.execute_batch("ROLLBACK");
                return Err(StoreError::Invalid(format!(
                    "migration {version:03}_{name} failed on {}: {e}",
                    path.display()
                )));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_migrates_and_reopens() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("apex.db");
        let store = Store::open(&path).unwrap();
        let v: i64 = store
            .read(|c| Ok(c.pragma_query_value(None, "user_version", |r| r.get(0))?))
            .unwrap();
        assert_eq!(v, schema_version());
        drop(store);
        // A second open (a second server) sees the same schema and does nothing.
        let a = Store::open(&path).unwrap();
        let b = Store::open(&path).unwrap();
        drop((a, b));
    }

    #[test]
    fn garbage_file_is_named_as_corrupt() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("apex.db");
        std::fs::write(&path, vec![0x42u8; 8192]).unwrap();
        let err = Store::open(&path).unwrap_err();
        let msg = err.to_string();
        assert!(matches!(err, StoreError::Corrupt { .. }), "{msg}");
        assert!(msg.contains("apex.db"), "{msg}");
    }

    #[test]
    fn newer_schema_is_refused_with_the_file_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("apex.db");
        {
            let c = Connection::open(&path).unwrap();
            c.pragma_update(None, "user_version", 999).unwrap();
        }
        let err = Store::open(&path).unwrap_err().to_string();
        assert!(
            err.contains("schema version 999") && err.contains("apex.db"),
            "{err}"
        );
    }
}
