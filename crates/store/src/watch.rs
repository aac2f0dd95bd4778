//! Hearing of commits made by other connections (another server on the same data dir, a
//! CLI import), without reading any table while nothing changed.

use rusqlite::Connection;

use super::Store;

/// Asks SQLite's `PRAGMA data_version` on a connection of its own; the value moves only
/// when another connection commits.
#[derive(Default)]
pub struct CommitWatch {
    conn: Option<Connection>,
    seen: Option<i64>,
}

impl CommitWatch {
    pub fn new() -> Self {
        Self::default()
    }

    /// True when another connection committed since the last call (and on the first call,
    /// or when the version cannot be read, so a caller never misses a change).
    pub fn others_committed(&mut self, store: &Store) -> bool {
        if self.conn.is_none() {
            self.conn = store.open_reader().ok();
        }
        let version = self.conn.as_ref().and_then(|c| {
            c.pragma_query_value(None, "data_version", |r| r.get::<_, i64>(0))
                .ok()
        });
        if version.is_some() && version == self.seen {
            return false;
        }
        self.seen = version;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn only_another_connections_commit_is_heard() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("apex.db");
        let store = Store::open(&path).unwrap();
        let mut watch = CommitWatch::new();
        assert!(
            watch.others_committed(&store),
            "the first look always reports"
        );
        assert!(!watch.others_committed(&store), "nothing changed");
        let other = Store::open(&path).unwrap();
        crate::runs::create_run(&other, "r1", "test", &json!({})).unwrap();
        assert!(
            watch.others_committed(&store),
            "another connection committed"
        );
        assert!(!watch.others_committed(&store));
    }
}
