//! Runs and their event logs: every long piece of work (indexing, generation, ingest, a
//! test run, an agent run) is a row in `runs`, and each event it emits a row in `events`.

use std::sync::Arc;
use std::sync::Mutex;

use rusqlite::{OptionalExtension, params};
use serde::Serialize;
use serde_json::Value;

use super::{Result, Store};
use crate::events::{Event, EventSink, now_ts};

/// One stored run.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct RunRecord {
    pub id: String,
    pub kind: String,
    pub status: String,
    pub created_at: String,
    pub finished_at: Option<String>,
    pub params: Value,
    pub result: Option<Value>,
}

/// Register a new run in state `running`.
pub fn create_run(store: &Store, id: &str, kind: &str, params: &Value) -> Result<()> {
    store.write(|c| {
        c.execute(
            "INSERT INTO runs (id, kind, status, created_at, params) VALUES (?1, ?2, 'running', ?3, ?4)",
            params![id, kind, now_ts(), params.to_string()],
        )?;
        Ok(())
    })
}

/// Record how a run ended (`completed`, `failed`, `cancelled`, `timed_out`...) and its result.
pub fn finish_run(store: &Store, id: &str, status: &str, result: Option<&Value>) -> Result<()> {
    store.write(|c| {
        c.execute(
            "UPDATE runs SET status = ?2, finished_at = ?3, result = ?4 WHERE id = ?1",
            params![id, status, now_ts(), result.map(|r| r.to_string())],
        )?;
        Ok(())
    })
}

/// Runs still marked `running` when the server starts were interrupted (killed, crashed):
/// say so rather than leave them running forever. Returns how many were marked.
pub fn mark_interrupted(store: &Store) -> Result<usize> {
    store.write(|c| {
        Ok(c.execute(
            "UPDATE runs SET status = 'interrupted', finished_at = ?1 WHERE status = 'running'",
            params![now_ts()],
        )?)
    })
}

pub fn get_run(store: &Store, id: &str) -> Result<Option<RunRecord>> {
    store.read(|c| {
        Ok(c.query_row(
            "SELECT id, kind, status, created_at, finished_at, params, result FROM runs WHERE id = ?1",
            params![id],
            row_to_run,
        )
        .optional()?)
    })
}

/// The newest runs of one kind (or of every kind), newest first.
pub fn list_runs(store: &Store, kind: Option<&str>, limit: usize) -> Result<Vec<RunRecord>> {
    store.read(|c| {
        let mut stmt = c.prepare(
            "SELECT id, kind, status, created_at, finished_at, params, result FROM runs
             WHERE (?1 IS NULL OR kind = ?1) ORDER BY created_at DESC, id DESC LIMIT ?2",
        )?;
        let rows = stmt.query_map(params![kind, limit as i64], row_to_run)?;
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
    })
}

fn row_to_run(r: &rusqlite::Row<'_>) -> rusqlite::Result<RunRecord> {
    let params: String = r.get(5)?;
    let result: Option<String> = r.get(6)?;
    Ok(RunRecord {
        id: r.get(0)?,
        kind: r.get(1)?,
        status: r.get(2)?,
        created_at: r.get(3)?,
        finished_at: r.get(4)?,
        params: serde_json::from_str(&params).unwrap_or(Value::Null),
        result: result.and_then(|s| serde_json::from_str(&s).ok()),
    })
}

pub fn append_event(store: &Store, event: &Event) -> Result<()> {
    store.write(|c| {
        c.execute(
            "INSERT INTO events (run_id, seq, ts, event, data) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![
                event.run_id,
                event.seq as i64,
                event.ts,
                event.event,
                event.data.to_string()
            ],
        )?;
        Ok(())
    })
}

/// The stored events of a run, in order, starting after `after_seq`.
pub fn events(store: &Store, run_id: &str, after_seq: u64) -> Result<Vec<Event>> {
    store.read(|c| {
        let mut stmt = c.prepare(
            "SELECT run_id, seq, ts, event, data FROM events WHERE run_id = ?1 AND seq > ?2 ORDER BY seq",
        )?;
        let rows = stmt.query_map(params![run_id, after_seq as i64], |r| {
            let data: String = r.get(4)?;
            Ok(Event {
                run_id: r.get(0)?,
                seq: r.get::<_, i64>(1)? as u64,
                ts: r.get(2)?,
                event: r.get(3)?,
                data: serde_json::from_str(&data).unwrap_or(Value::Null),
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
    })
}

/// Called with each stored event and the run's expected total.
type Listener = Box<dyn Fn(&Event, Option<u64>) + Send + Sync>;

/// The event log of one run: numbers, timestamps and stores each event, then hands it to
/// an optional listener (the MCP face forwards it as a progress notification).
pub struct RunLog {
    store: Arc<Store>,
    run_id: String,
    state: Mutex<RunLogState>,
    listener: Option<Listener>,
}

#[derive(Default)]
struct RunLogState {
    seq: u64,
    total: Option<u64>,
}

impl RunLog {
    pub fn new(store: Arc<Store>, run_id: impl Into<String>) -> Self {
        Self {
            store,
            run_id: run_id.into(),
            state: Mutex::new(RunLogState::default()),
            listener: None,
        }
    }

    /// Call `listener(event, total)` after each event is stored.
    pub fn with_listener(
        mut self,
        listener: impl Fn(&Event, Option<u64>) + Send + Sync + 'static,
    ) -> Self {
        self.listener = Some(Box::new(listener));
        self
    }

    pub fn run_id(&self) -> &str {
        &self.run_id
    }
}

impl EventSink for RunLog {
    fn emit(&self, event: &str, data: Value) {
        // The lock spans numbering and storing so that seq order is storage order.
        let Ok(mut state) = self.state.lock() else {
            return;
        };
        state.seq += 1;
        let ev = Event {
            event: event.to_string(),
            run_id: self.run_id.clone(),
            seq: state.seq,
            ts: now_ts(),
            data,
        };
        if let Err(e) = append_event(&self.store, &ev) {
            tracing::warn!(run_id = %self.run_id, error = %e, "could not store event");
        }
        let total = state.total.map(|t| t.max(state.seq));
        drop(state);
        if let Some(listener) = &self.listener {
            listener(&ev, total);
        }
    }

    fn expect_total(&self, total_events: u64) {
        if let Ok(mut state) = self.state.lock() {
            state.total = Some(total_events);
        }
    }

    fn expect_more(&self, more: u64) {
        if let Ok(mut state) = self.state.lock() {
            state.total = Some(state.seq + more);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn run_log_numbers_and_stores_events_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(Store::open(&dir.path().join("apex.db")).unwrap());
        create_run(&store, "r1", "test", &json!({"a": 1})).unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let seen2 = seen.clone();
        let log = RunLog::new(store.clone(), "r1")
            .with_listener(move |e, total| seen2.lock().unwrap().push((e.seq, total)));
        log.expect_total(3);
        log.emit("suite_started", json!({"total": 1}));
        log.emit("test_finished", json!({"name": "t"}));
        log.emit("suite_finished", json!({}));
        log.emit("suite_finished", json!({}));
        finish_run(&store, "r1", "completed", Some(&json!({"passed": 1}))).unwrap();

        let evs = events(&store, "r1", 0).unwrap();
        assert_eq!(
            evs.iter().map(|e| e.seq).collect::<Vec<_>>(),
            vec![1, 2, 3, 4]
        );
        assert_eq!(evs[1].event, "test_finished");
        // total never falls below progress
        assert_eq!(
            *seen.lock().unwrap(),
            vec![(1, Some(3)), (2, Some(3)), (3, Some(3)), (4, Some(4))]
        );
        let run = get_run(&store, "r1").unwrap().unwrap();
        assert_eq!(run.status, "completed");
        assert_eq!(run.result, Some(json!({"passed": 1})));
        assert_eq!(events(&store, "r1", 2).unwrap().len(), 2);
    }

    #[test]
    fn interrupted_runs_are_marked_on_restart() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("apex.db")).unwrap();
        create_run(&store, "r1", "agent", &json!({})).unwrap();
        assert_eq!(mark_interrupted(&store).unwrap(), 1);
        assert_eq!(
            get_run(&store, "r1").unwrap().unwrap().status,
            "interrupted"
        );
        assert_eq!(list_runs(&store, Some("agent"), 10).unwrap().len(), 1);
        assert!(list_runs(&store, Some("test"), 10).unwrap().is_empty());
    }
}
