//! Context bundles and their versions: saving a new version, reading any version, listing,
//! deleting a bundle with its history.
//!
//! Rows carry their items, tags and redaction report as JSON text that the `context` library
//! writes and reads; this module only keeps versions numbered and consistent. It does not
//! know what an item is or how it is anchored.

use rusqlite::{OptionalExtension, TransactionBehavior, params};

use super::{Result, Store};
use apex_core::events::now_ts;

/// One stored version of a bundle, as written.
#[derive(Debug, Clone, PartialEq)]
pub struct ContextVersionRow {
    pub name: String,
    pub version: u32,
    pub created_at: String,
    /// `save` or `import`.
    pub source: String,
    pub description: String,
    /// JSON array of strings.
    pub tags: String,
    pub notes: String,
    /// JSON array of saved items.
    pub items: String,
    /// JSON array of `{kind, count, places}`.
    pub redactions: String,
}

/// What a caller gives to store a new version; the store picks the version number.
#[derive(Debug, Clone)]
pub struct NewContextVersion<'a> {
    pub name: &'a str,
    pub source: &'a str,
    pub description: &'a str,
    pub tags: &'a str,
    pub notes: &'a str,
    pub items: &'a str,
    pub redactions: &'a str,
}

/// A bundle with its newest version, for listings.
#[derive(Debug, Clone, PartialEq)]
pub struct ContextBundleRow {
    pub name: String,
    pub created_at: String,
    pub updated_at: String,
    pub latest: ContextVersionRow,
}

/// Store a new version of bundle `v.name` and return its number.
///
/// The number is allocated inside one IMMEDIATE transaction, which takes SQLite's write lock
/// before reading the current maximum: two servers (or two clients of one server) saving
/// the same name at once get consecutive numbers and neither save is lost.
pub fn save_version(store: &Store, v: &NewContextVersion<'_>) -> Result<(u32, String)> {
    store.write(|c| {
        let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let last: Option<i64> = tx
            .prepare_cached("SELECT MAX(version) FROM context_versions WHERE name = ?1")?
            .query_row(params![v.name], |r| r.get(0))?;
        let version = last.unwrap_or(0) + 1;
        let now = now_ts();
        tx.prepare_cached(
            "INSERT INTO context_bundles (name, created_at, updated_at, latest_version)
             VALUES (?1, ?2, ?2, ?3)
             ON CONFLICT(name) DO UPDATE SET updated_at = ?2, latest_version = ?3",
        )?
        .execute(params![v.name, now, version])?;
        tx.prepare_cached(
            "INSERT INTO context_versions
               (name, version, created_at, source, description, tags, notes, items, redactions)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        )?
        .execute(params![
            v.name,
            version,
            now,
            v.source,
            v.description,
            v.tags,
            v.notes,
            v.items,
            v.redactions
        ])?;
        tx.commit()?;
        Ok((version as u32, now))
    })
}

const VERSION_COLUMNS: &str = "v.name, v.version, v.created_at, v.source, v.description, v.tags, v.notes, v.items, v.redactions";

fn row_to_version(r: &rusqlite::Row<'_>) -> rusqlite::Result<ContextVersionRow> {
    Ok(ContextVersionRow {
        name: r.get(0)?,
        version: r.get::<_, i64>(1)? as u32,
        created_at: r.get(2)?,
        source: r.get(3)?,
        description: r.get(4)?,
        tags: r.get(5)?,
        notes: r.get(6)?,
        items: r.get(7)?,
        redactions: r.get(8)?,
    })
}

/// One version of a bundle; `None` for `version` means the newest.
pub fn get_version(
    store: &Store,
    name: &str,
    version: Option<u32>,
) -> Result<Option<ContextVersionRow>> {
    store.read(|c| {
        let row = match version {
            Some(n) => c
                .prepare_cached(&format!(
                    "SELECT {VERSION_COLUMNS} FROM context_versions v
                     WHERE v.name = ?1 AND v.version = ?2"
                ))?
                .query_row(params![name, n], row_to_version)
                .optional()?,
            None => c
                .prepare_cached(&format!(
                    "SELECT {VERSION_COLUMNS} FROM context_versions v
                     JOIN context_bundles b ON b.name = v.name AND b.latest_version = v.version
                     WHERE v.name = ?1"
                ))?
                .query_row(params![name], row_to_version)
                .optional()?,
        };
        Ok(row)
    })
}

/// Every bundle with its newest version, by name.
pub fn list_bundles(store: &Store) -> Result<Vec<ContextBundleRow>> {
    store.read(|c| {
        let mut stmt = c.prepare(&format!(
            "SELECT {VERSION_COLUMNS}, b.created_at, b.updated_at FROM context_bundles b
             JOIN context_versions v ON v.name = b.name AND v.version = b.latest_version
             ORDER BY b.name"
        ))?;
        let rows = stmt.query_map([], |r| {
            Ok(ContextBundleRow {
                latest: row_to_version(r)?,
                created_at: r.get(9)?,
                updated_at: r.get(10)?,
                name: r.get(0)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
    })
}

/// The version numbers of a bundle with when and how each was made, oldest first.
pub fn history(store: &Store, name: &str) -> Result<Vec<(u32, String, String)>> {
    store.read(|c| {
        let mut stmt = c.prepare(
            "SELECT version, created_at, source FROM context_versions WHERE name = ?1 ORDER BY version",
        )?;
        let rows = stmt.query_map(params![name], |r| {
            Ok((r.get::<_, i64>(0)? as u32, r.get(1)?, r.get(2)?))
        })?;
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
    })
}

/// The newest version number of bundle `name`, or `None` when there is no such bundle.
pub fn latest_version(store: &Store, name: &str) -> Result<Option<u32>> {
    store.read(|c| {
        Ok(
            c.prepare_cached("SELECT latest_version FROM context_bundles WHERE name = ?1")?
                .query_row(params![name], |r| r.get::<_, i64>(0))
                .optional()?
                .map(|v| v as u32),
        )
    })
}

/// Every bundle's name and newest version number, by name: cheap enough to poll.
pub fn latest_versions(store: &Store) -> Result<Vec<(String, u32)>> {
    store.read(|c| {
        let mut stmt =
            c.prepare_cached("SELECT name, latest_version FROM context_bundles ORDER BY name")?;
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get::<_, i64>(1)? as u32)))?;
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
    })
}

/// The names of every bundle, for suggestions.
pub fn names(store: &Store) -> Result<Vec<String>> {
    store.read(|c| {
        let mut stmt = c.prepare("SELECT name FROM context_bundles ORDER BY name")?;
        let rows = stmt.query_map([], |r| r.get(0))?;
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
    })
}

/// Delete a bundle and its whole history. Returns how many versions were removed
/// (0 when no bundle had that name).
pub fn delete(store: &Store, name: &str) -> Result<u32> {
    store.write(|c| {
        let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let n = tx.execute(
            "DELETE FROM context_versions WHERE name = ?1",
            params![name],
        )?;
        tx.execute("DELETE FROM context_bundles WHERE name = ?1", params![name])?;
        tx.commit()?;
        Ok(n as u32)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn new<'a>(name: &'a str, notes: &'a str) -> NewContextVersion<'a> {
        NewContextVersion {
            name,
            source: "save",
            description: "d",
            tags: "[]",
            notes,
            items: "[]",
            redactions: "[]",
        }
    }

    #[test]
    fn versions_count_up_and_each_stays_readable() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("apex.db")).unwrap();
        assert_eq!(save_version(&store, &new("a", "one")).unwrap().0, 1);
        assert_eq!(save_version(&store, &new("a", "two")).unwrap().0, 2);
        assert_eq!(save_version(&store, &new("b", "x")).unwrap().0, 1);
        assert_eq!(
            get_version(&store, "a", None).unwrap().unwrap().notes,
            "two"
        );
        assert_eq!(
            get_version(&store, "a", Some(1)).unwrap().unwrap().notes,
            "one"
        );
        assert!(get_version(&store, "a", Some(3)).unwrap().is_none());
        let list = list_bundles(&store).unwrap();
        assert_eq!(list.len(), 2);
        assert_eq!(list[0].latest.version, 2);
        assert_eq!(history(&store, "a").unwrap().len(), 2);
        assert_eq!(delete(&store, "a").unwrap(), 2);
        assert!(get_version(&store, "a", Some(1)).unwrap().is_none());
        assert_eq!(names(&store).unwrap(), vec!["b".to_string()]);
        assert_eq!(delete(&store, "a").unwrap(), 0);
    }

    #[test]
    fn two_servers_saving_one_name_at_once_both_land() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("apex.db");
        drop(Store::open(&path).unwrap());
        let handles: Vec<_> = (0..4)
            .map(|i| {
                let path = path.clone();
                std::thread::spawn(move || {
                    // Each thread is its own "server": its own Store, its own writer.
                    let store = Store::open(&path).unwrap();
                    (0..10)
                        .map(|j| {
                            let notes = format!("{i}-{j}");
                            save_version(&store, &new("shared", &notes)).unwrap().0
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        let mut all: Vec<u32> = handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect();
        all.sort();
        assert_eq!(all, (1..=40).collect::<Vec<_>>());
        let store = Store::open(&path).unwrap();
        assert_eq!(history(&store, "shared").unwrap().len(), 40);
    }
}
