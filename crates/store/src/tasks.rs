//! Tasks (the MCP Tasks extension) as the store keeps them: which run a task id names, and
//! how the task ended, so that `tasks/get` answers after the server restarted and every
//! tool that takes a run id also takes the task id of that run.

use rusqlite::{OptionalExtension, params};
use serde::Serialize;
use serde_json::Value;

use super::{Result, Store};
use apex_core::events::now_ts;

/// One stored task.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct TaskRecord {
    pub task_id: String,
    pub run_id: String,
    /// The tool whose call the task answers.
    pub tool: String,
    pub created_at: String,
    /// How long the task stays readable after it finished, in ms; `None`: forever.
    pub ttl_ms: Option<u64>,
    pub poll_ms: Option<u64>,
    /// `working`, `completed`, `failed` or `cancelled`.
    pub status: String,
    /// `completed`: the tools/call result; `failed`: the JSON-RPC error.
    pub result: Option<Value>,
    pub finished_at: Option<String>,
}

/// Record that task `task_id` names run `run_id` (which must exist).
pub fn create(
    store: &Store,
    task_id: &str,
    run_id: &str,
    tool: &str,
    created_at: &str,
    ttl_ms: Option<u64>,
    poll_ms: Option<u64>,
) -> Result<()> {
    store.write(|c| {
        c.execute(
            "INSERT INTO run_tasks (task_id, run_id, tool, created_at, ttl_ms, poll_ms)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![
                task_id,
                run_id,
                tool,
                created_at,
                ttl_ms.map(|t| t as i64),
                poll_ms.map(|t| t as i64)
            ],
        )?;
        Ok(())
    })
}

/// Record how a task ended: `completed` with the call's result, `failed` with the error,
/// or `cancelled`.
pub fn finish(store: &Store, task_id: &str, status: &str, result: Option<&Value>) -> Result<()> {
    store.write(|c| {
        c.execute(
            "UPDATE run_tasks SET status = ?2, result = ?3, finished_at = ?4 WHERE task_id = ?1",
            params![task_id, status, result.map(|r| r.to_string()), now_ts()],
        )?;
        Ok(())
    })
}

/// The task with this id.
pub fn get(store: &Store, task_id: &str) -> Result<Option<TaskRecord>> {
    select_one(store, "task_id", task_id)
}

/// The task that names run `run_id`, if the run was started as a task.
pub fn for_run(store: &Store, run_id: &str) -> Result<Option<TaskRecord>> {
    select_one(store, "run_id", run_id)
}

/// The run an id names: the id itself when it is a run's, the task's run when it is a
/// task's, `None` when it is neither.
pub fn resolve_run_id(store: &Store, id: &str) -> Result<Option<String>> {
    store.read(|c| {
        Ok(c.query_row(
            "SELECT id FROM runs WHERE id = ?1
             UNION ALL SELECT run_id FROM run_tasks WHERE task_id = ?1 LIMIT 1",
            params![id],
            |r| r.get(0),
        )
        .optional()?)
    })
}

fn select_one(store: &Store, column: &str, value: &str) -> Result<Option<TaskRecord>> {
    // `column` is one of two literals above, never client input.
    let sql = format!(
        "SELECT task_id, run_id, tool, created_at, ttl_ms, poll_ms, status, result, finished_at
         FROM run_tasks WHERE {column} = ?1"
    );
    store.read(|c| {
        Ok(c.query_row(&sql, params![value], |r| {
            let result: Option<String> = r.get(7)?;
            Ok(TaskRecord {
                task_id: r.get(0)?,
                run_id: r.get(1)?,
                tool: r.get(2)?,
                created_at: r.get(3)?,
                ttl_ms: r.get::<_, Option<i64>>(4)?.map(|t| t.max(0) as u64),
                poll_ms: r.get::<_, Option<i64>>(5)?.map(|t| t.max(0) as u64),
                status: r.get(6)?,
                result: result.and_then(|s| serde_json::from_str(&s).ok()),
                finished_at: r.get(8)?,
            })
        })
        .optional()?)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_task_names_its_run_and_keeps_its_end() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("apex.db")).unwrap();
        crate::runs::create_run(&store, "agent-1", "agent", &json!({})).unwrap();
        create(
            &store,
            "t-1",
            "agent-1",
            "run_agent",
            "2026-12-01T00:00:00.000Z",
            Some(5000),
            Some(500),
        )
        .unwrap();
        // a run names one task at most
        assert!(create(&store, "t-2", "agent-1", "run_agent", "x", None, None).is_err());
        // a task of no run is refused
        assert!(create(&store, "t-3", "agent-9", "run_agent", "x", None, None).is_err());
        assert_eq!(
            resolve_run_id(&store, "t-1").unwrap().as_deref(),
            Some("agent-1")
        );
        assert_eq!(
            resolve_run_id(&store, "agent-1").unwrap().as_deref(),
            Some("agent-1")
        );
        assert_eq!(resolve_run_id(&store, "nope").unwrap(), None);
        let t = get(&store, "t-1").unwrap().unwrap();
        assert_eq!(
            (t.status.as_str(), t.ttl_ms, t.result.clone()),
            ("working", Some(5000), None)
        );
        finish(
            &store,
            "t-1",
            "completed",
            Some(&json!({"content": [], "isError": false})),
        )
        .unwrap();
        let t = for_run(&store, "agent-1").unwrap().unwrap();
        assert_eq!(t.status, "completed");
        assert_eq!(t.result, Some(json!({"content": [], "isError": false})));
        assert!(t.finished_at.is_some());
    }
}
