//! Runs and their event logs: every long piece of work (indexing, generation, ingest, a
//! test run, an agent run) is a row in `runs`, and each event it emits a row in `events`.

use rusqlite::{OptionalExtension, params};
use serde::Serialize;
use serde_json::Value;

use super::{Result, Store};
use apex_core::events::{Event, now_ts};
use apex_core::run::{JournalError, RunJournal};

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

/// Store one event of a run. Not synced on its own: the run's end (a durable write) is.
pub fn append_event(store: &Store, event: &Event) -> Result<()> {
    store.write_bulk(|c| {
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

/// The store keeps the run driver's journal: `runs` and `events`.
impl RunJournal for Store {
    fn create_run(&self, id: &str, kind: &str, params: &Value) -> Result<(), JournalError> {
        create_run(self, id, kind, params).map_err(|e| JournalError(e.to_string()))
    }

    fn append_event(&self, event: &Event) -> Result<(), JournalError> {
        append_event(self, event).map_err(|e| JournalError(e.to_string()))
    }

    fn finish_run(
        &self,
        id: &str,
        status: &str,
        result: Option<&Value>,
    ) -> Result<(), JournalError> {
        finish_run(self, id, status, result).map_err(|e| JournalError(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    use std::sync::{Arc, Mutex};

    use apex_core::run::{BeginError, RunDriver, RunFailure, RunKind, RunOutput};
    use tokio_util::sync::CancellationToken;

    fn driver(limit: usize) -> (tempfile::TempDir, Arc<Store>, Arc<RunDriver>) {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(Store::open(&dir.path().join("apex.db")).unwrap());
        let driver = RunDriver::with_limit(store.clone(), limit);
        (dir, store, driver)
    }

    #[derive(Debug)]
    struct Passed(u32);
    impl RunOutput for Passed {
        fn run_result(&self) -> Value {
            json!({"passed": self.0})
        }
    }

    #[derive(Debug)]
    enum Failure {
        Cancelled,
        Broken,
    }
    impl std::fmt::Display for Failure {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str(match self {
                Failure::Cancelled => "stopped",
                Failure::Broken => "the disk is on fire",
            })
        }
    }
    impl RunFailure for Failure {
        fn is_cancelled(&self) -> bool {
            matches!(self, Failure::Cancelled)
        }
    }

    #[tokio::test]
    async fn a_run_numbers_stores_and_relays_its_events_in_order() {
        let (_d, store, driver) = driver(4);
        let seen = Arc::new(Mutex::new(Vec::new()));
        let seen2 = seen.clone();
        let ends = Arc::new(Mutex::new(Vec::new()));
        let ends2 = ends.clone();
        driver.on_finish(move |end| ends2.lock().unwrap().push(end.status.clone()));
        let observer =
            move |e: &Event, total: Option<u64>| seen2.lock().unwrap().push((e.seq, total));
        let run = driver
            .begin(RunKind::Test, json!({"a": 1}), Some(Arc::new(observer)))
            .unwrap();
        let id = run.id().to_string();
        assert!(id.starts_with("test-"), "{id}");
        assert_eq!(driver.active().len(), 1);
        let out = run
            .blocking(|sink, _cancel| {
                sink.expect_total(3);
                sink.emit("suite_started", json!({"total": 1}));
                sink.emit("test_finished", json!({"name": "t"}));
                sink.emit("suite_finished", json!({}));
                sink.emit("suite_finished", json!({}));
                Ok::<_, Failure>(Passed(1))
            })
            .await
            .unwrap();
        assert!(out.is_ok());

        let evs = events(&store, &id, 0).unwrap();
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
        let run = get_run(&store, &id).unwrap().unwrap();
        assert_eq!(
            (run.kind.as_str(), run.status.as_str()),
            ("test", "completed")
        );
        assert_eq!(run.result, Some(json!({"passed": 1})));
        assert_eq!(events(&store, &id, 2).unwrap().len(), 2);
        assert!(driver.active().is_empty());
        assert_eq!(*ends.lock().unwrap(), vec!["completed".to_string()]);
    }

    #[tokio::test]
    async fn cancel_run_stops_a_run_and_it_is_recorded_cancelled() {
        let (_d, store, driver) = driver(4);
        let run = driver.begin(RunKind::Generation, json!({}), None).unwrap();
        let id = run.id().to_string();
        assert!(id.starts_with("gen-"), "{id}");
        let handle = tokio::spawn(run.blocking(|_sink, cancel: &CancellationToken| {
            while !cancel.is_cancelled() {
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
            Err::<Passed, _>(Failure::Cancelled)
        }));
        assert!(driver.cancel(&id));
        let out = handle.await.unwrap().unwrap();
        assert!(matches!(out, Err(Failure::Cancelled)));
        let run = get_run(&store, &id).unwrap().unwrap();
        assert_eq!(run.status, "cancelled");
        assert!(!driver.cancel(&id), "a finished run is not in progress");
    }

    #[tokio::test]
    async fn a_request_cancellation_is_relayed_and_failures_say_why() {
        let (_d, store, driver) = driver(4);
        let run = driver.begin(RunKind::Agent, json!({}), None).unwrap();
        let id = run.id().to_string();
        let request = CancellationToken::new();
        run.relay_cancel(request.clone());
        request.cancel();
        let out = run
            .blocking(|_s, cancel: &CancellationToken| {
                while !cancel.is_cancelled() {
                    std::thread::sleep(std::time::Duration::from_millis(5));
                }
                Err::<Passed, _>(Failure::Cancelled)
            })
            .await
            .unwrap();
        assert!(out.is_err());
        assert_eq!(get_run(&store, &id).unwrap().unwrap().status, "cancelled");

        let run = driver.begin(RunKind::Ingest, json!({}), None).unwrap();
        let id = run.id().to_string();
        let _ = run
            .blocking(|_s, _c| Err::<Passed, _>(Failure::Broken))
            .await
            .unwrap();
        let rec = get_run(&store, &id).unwrap().unwrap();
        assert_eq!(rec.status, "failed");
        assert_eq!(rec.result, Some(json!({"error": "the disk is on fire"})));
    }

    #[tokio::test]
    async fn the_limit_refuses_a_run_naming_those_in_progress_and_drops_are_recorded() {
        let (_d, store, driver) = driver(1);
        let first = driver.begin(RunKind::Index, json!({}), None).unwrap();
        let Err(BeginError::Busy { running, .. }) = driver.begin(RunKind::Agent, json!({}), None)
        else {
            panic!("a second run should be refused");
        };
        assert!(
            running.contains(first.id()) && running.contains("index"),
            "{running}"
        );
        let id = first.id().to_string();
        drop(first);
        let rec = get_run(&store, &id).unwrap().unwrap();
        assert_eq!(
            rec.status, "failed",
            "an abandoned run does not stay running"
        );
        assert!(driver.begin(RunKind::Agent, json!({}), None).is_ok());
    }

    #[tokio::test]
    async fn a_panicking_worker_fails_its_run() {
        let (_d, store, driver) = driver(2);
        let run = driver.begin(RunKind::Agent, json!({}), None).unwrap();
        let id = run.id().to_string();
        let err = run
            .blocking(|_s, _c| -> Result<Passed, Failure> { panic!("boom") })
            .await
            .unwrap_err();
        assert!(err.to_string().contains(&id), "{err}");
        assert_eq!(get_run(&store, &id).unwrap().unwrap().status, "failed");
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
