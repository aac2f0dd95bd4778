//! The SQLite store: one database per data dir, WAL, numbered migrations, opened once and
//! shared by every client of the server.
//!
//! The store owns SQL. Other modules call the typed functions of its submodules (one per
//! table family); they never build SQL strings. It knows nothing of MCP.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};

pub mod analytics;
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
        "cannot write the store {path}: the disk is full or a file size limit was reached ({message}); free space and retry"
    )]
    Full { path: PathBuf, message: String },
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
pub struct Store {
    path: PathBuf,
    writer: Mutex<Connection>,
    readers: Mutex<Vec<Connection>>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("path", &self.path).finish()
    }
}

impl Store {
    /// Open (creating if needed) the database at `path` and bring its schema up to date.
    pub fn open(path: &Path) -> Result<Self> {
        let conn = Connection::open(path).map_err(|e| StoreError::Open {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
        configure(&conn).map_err(|e| classify(path, e))?;
        migrate(path, &conn)?;
        Ok(Self {
            path: path.to_path_buf(),
            writer: Mutex::new(conn),
            readers: Mutex::new(Vec::new()),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Run `f` with the writer connection. Keep it short: every other writer waits.
    pub fn write<T>(&self, f: impl FnOnce(&mut Connection) -> Result<T>) -> Result<T> {
        let mut conn = self
            .writer
            .lock()
            .map_err(|_| StoreError::Invalid("store writer lock poisoned".into()))?;
        f(&mut conn).map_err(|e| self.explain(e))
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
        let conn = Connection::open_with_flags(
            &self.path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(|e| classify(&self.path, e))?;
        conn.busy_timeout(Duration::from_secs(5))?;
        Ok(conn)
    }
}

fn configure(conn: &Connection) -> rusqlite::Result<()> {
    conn.busy_timeout(Duration::from_secs(10))?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    Ok(())
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
