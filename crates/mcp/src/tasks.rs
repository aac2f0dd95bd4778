//! Long runs as MCP tasks (the `io.modelcontextprotocol/tasks` extension, SEP-2663), for
//! clients that declare it. A task is a view of one run of the run driver, never a second
//! lifecycle: the task id names the run (the store records which), `tasks/get` reads the run
//! (its latest event while it works, the call's result once it ended), and `tasks/cancel` is
//! `cancel_run`.
//!
//! rmcp's [`TaskManager`] holds what only lives in memory: the in-task input requests
//! (`input_required` until the client answers with `tasks/update`) and the task handle a run
//! hands to its narrator. How a task ended is kept in the store, so `tasks/get` answers the
//! same after a restart, until the task's time-to-live after its end has passed.
//!
//! The run itself is driven apart from rmcp's task future: if rmcp expires the future (its
//! TTL counts from creation), the run goes on and the store still tells how it ended.

use std::sync::{Arc, Mutex};

use rmcp::ErrorData as McpError;
use rmcp::model::{
    CallToolResult, DetailedTask, InputResponses, JsonObject, MetaObject, Task, TaskPayload,
    TaskStatus,
};
use rmcp::task_manager::{TaskContext, TaskExit, TaskOptions};
use serde_json::{Value, json};
use tokio::sync::oneshot;

use crate::state::AppState;
use apex_store::tasks::{self as stored, TaskRecord};

/// The `_meta` of a long tool's definition: it may answer with a task. (rmcp 3.11's `Tool`
/// has no `execution` field; the value follows 2025-11-25's `execution.taskSupport`.)
pub fn task_support() -> MetaObject {
    let mut meta = JsonObject::new();
    meta.insert("ai.netra/taskSupport".into(), json!("optional"));
    MetaObject(meta)
}

/// How a task's run ended, as the task reports it.
pub enum TaskEnd {
    /// The call's result (also when it is an `isError` result: the call itself completed).
    Completed(CallToolResult),
    Cancelled,
    /// A JSON-RPC error: the run could not be carried out (its worker panicked).
    Failed(McpError),
}

/// A task opened for a run whose work has not started yet. Dropped before
/// [`RunTask::finish`], it records itself as failed, so no task stays `working`.
pub struct RunTask {
    pub seed: Task,
    state: Arc<AppState>,
    context: TaskContext,
    done: Mutex<Option<oneshot::Sender<TaskEnd>>>,
}

impl RunTask {
    pub fn id(&self) -> &str {
        &self.seed.task_id
    }

    /// The handle through which the run asks its client for input mid-run.
    pub fn context(&self) -> TaskContext {
        self.context.clone()
    }

    /// Record how the run ended, then settle rmcp's task with it.
    pub fn finish(&self, end: TaskEnd) {
        let state = &self.state;
        let (status, result) = match &end {
            TaskEnd::Completed(r) => ("completed", serde_json::to_value(r).ok()),
            TaskEnd::Cancelled => ("cancelled", None),
            TaskEnd::Failed(e) => ("failed", serde_json::to_value(e).ok()),
        };
        if let Err(e) = stored::finish(&state.store, self.id(), status, result.as_ref()) {
            tracing::warn!(task_id = self.id(), error = %e, "could not record the task's end");
        }
        if let Some(tx) = self.done.lock().ok().and_then(|mut d| d.take()) {
            // The receiver is gone when rmcp expired the task: the store has the end.
            let _ = tx.send(end);
        }
    }
}

impl Drop for RunTask {
    fn drop(&mut self) {
        let pending = self.done.lock().map(|d| d.is_some()).unwrap_or(false);
        if pending {
            self.finish(TaskEnd::Failed(McpError::internal_error(
                "the run was abandoned before it finished",
                None,
            )));
        }
    }
}

/// Open a task for run `run_id` of tool `tool`: observable through `tasks/get` (and recorded
/// in the store) before this returns.
pub fn open(state: &Arc<AppState>, run_id: &str, tool: &str) -> Result<RunTask, String> {
    let cfg = &state.workspace.config().tasks;
    let ttl_ms = cfg.ttl_s.saturating_mul(1000);
    let options = TaskOptions::new()
        .with_ttl_ms(ttl_ms)
        .with_poll_interval_ms(cfg.poll_ms)
        .with_status_message(format!("run {run_id} started"));
    let (tx, rx) = oneshot::channel::<TaskEnd>();
    let mut context = None;
    let seed = state.tasks.spawn(options, |ctx| {
        context = Some(ctx);
        Box::pin(async move {
            match rx.await {
                Ok(TaskEnd::Completed(result)) => Ok(result),
                Ok(TaskEnd::Cancelled) => Err(TaskExit::Cancelled),
                Ok(TaskEnd::Failed(e)) => Err(TaskExit::Error(e)),
                Err(_) => Err(TaskExit::Error(McpError::internal_error(
                    "the run ended without an answer",
                    None,
                ))),
            }
        })
    });
    let context = context.ok_or("rmcp did not hand out the task's context")?;
    stored::create(
        &state.store,
        &seed.task_id,
        run_id,
        tool,
        &seed.created_at,
        seed.ttl_ms,
        seed.poll_interval_ms,
    )
    .map_err(|e| {
        let _ = state.tasks.cancel_task(&seed.task_id);
        format!("cannot record the task: {e}")
    })?;
    Ok(RunTask {
        seed,
        state: state.clone(),
        context,
        done: Mutex::new(Some(tx)),
    })
}

/// `tasks/get`: the task as its run stands.
pub fn get(state: &AppState, task_id: &str) -> Result<DetailedTask, McpError> {
    let record = stored::get(&state.store, task_id)
        .map_err(internal)?
        .ok_or_else(|| unknown(task_id))?;
    let live = state.tasks.get_task(task_id).ok();
    let mut task = Task::new(
        record.task_id.clone(),
        TaskStatus::Working,
        record.created_at.clone(),
        live.as_ref()
            .map(|d| d.task.last_updated_at.clone())
            .or_else(|| record.finished_at.clone())
            .unwrap_or_else(|| record.created_at.clone()),
    );
    task.ttl_ms = record.ttl_ms;
    task.poll_interval_ms = record.poll_ms;
    let run = &record.run_id;
    let payload = match record.status.as_str() {
        "completed" | "failed" | "cancelled" => {
            if let Some(expired) = expiry(&record) {
                return Err(expired);
            }
            finished_payload(state, &record, &mut task)
        }
        _ => match live {
            Some(d) if d.status() == TaskStatus::InputRequired => {
                task.status_message = Some(format!(
                    "run {run} is waiting for the client's answer (tasks/update)"
                ));
                d.payload
            }
            Some(_) => {
                task.status_message = Some(match state.runs.active_run(run) {
                    Some(a) => match a.latest {
                        Some(latest) => format!("run {run}: {latest}"),
                        None => format!("run {run} started"),
                    },
                    None => format!("run {run} is finishing"),
                });
                TaskPayload::Working
            }
            // Not held here. The run may have finished (and rmcp let the task go) between
            // reading the record and looking for the task: the store has the end first.
            None => match stored::get(&state.store, task_id).map_err(internal)? {
                Some(now)
                    if matches!(now.status.as_str(), "completed" | "failed" | "cancelled") =>
                {
                    if let Some(expired) = expiry(&now) {
                        return Err(expired);
                    }
                    finished_payload(state, &now, &mut task)
                }
                _ => orphan_payload(state, &record, &mut task)?,
            },
        },
    };
    Ok(DetailedTask::new(task, payload))
}

/// The payload of a task that ended, from the store.
fn finished_payload(state: &AppState, record: &TaskRecord, task: &mut Task) -> TaskPayload {
    let run = &record.run_id;
    let run_status = apex_store::runs::get_run(&state.store, run)
        .ok()
        .flatten()
        .map(|r| r.status)
        .unwrap_or_else(|| "unknown".into());
    task.status_message = Some(format!("run {run} {run_status}"));
    let object = |v: &Option<Value>| match v {
        Some(Value::Object(m)) => m.clone(),
        _ => JsonObject::new(),
    };
    match record.status.as_str() {
        "completed" => TaskPayload::Completed {
            result: object(&record.result),
        },
        "cancelled" => TaskPayload::Cancelled,
        _ => TaskPayload::Failed {
            error: object(&record.result),
        },
    }
}

/// A task not finished in the store that this process does not hold: its server stopped
/// while the run was in progress (or another process on the same data dir runs it).
fn orphan_payload(
    state: &AppState,
    record: &TaskRecord,
    task: &mut Task,
) -> Result<TaskPayload, McpError> {
    let run = &record.run_id;
    let status = apex_store::runs::get_run(&state.store, run)
        .map_err(internal)?
        .map(|r| r.status)
        .unwrap_or_else(|| "unknown".into());
    if status == "running" {
        task.status_message = Some(format!(
            "run {run} is running in another netra-apex process on this data dir"
        ));
        return Ok(TaskPayload::Working);
    }
    let message = format!(
        "the server stopped while run {run} was in progress; the run is recorded as {status}: {}",
        where_to_read(record)
    );
    task.status_message = Some(message.clone());
    let error = McpError::internal_error(message, Some(json!({"run_id": run})));
    Ok(TaskPayload::Failed {
        error: match serde_json::to_value(error) {
            Ok(Value::Object(m)) => m,
            _ => JsonObject::new(),
        },
    })
}

/// The error of a finished task whose time-to-live has passed, if it has.
fn expiry(record: &TaskRecord) -> Option<McpError> {
    let ttl = record.ttl_ms?;
    let finished = chrono::DateTime::parse_from_rfc3339(record.finished_at.as_deref()?).ok()?;
    let expires = finished + chrono::Duration::milliseconds(ttl.min(i64::MAX as u64) as i64);
    if chrono::Utc::now() < expires {
        return None;
    }
    Some(McpError::invalid_params(
        format!(
            "task {} expired: it finished at {} and was kept {} s; {}",
            record.task_id,
            finished.to_rfc3339(),
            ttl / 1000,
            where_to_read(record)
        ),
        Some(json!({"run_id": record.run_id, "expired": true})),
    ))
}

/// Where the run of a task can be read for good.
fn where_to_read(record: &TaskRecord) -> String {
    let run = &record.run_id;
    let tool = match record.tool.as_str() {
        "run_agent" => format!("get_agent_run run_id={run}, "),
        "run_tests" => format!("get_test_run run_id={run}, "),
        _ => String::new(),
    };
    format!("read run {run} with {tool}apex://runs/{run} and apex://runs/{run}/events")
}

/// `tasks/update`: hand the client's answers to the run waiting for them. Answers to keys
/// nothing waits for are ignored, as the extension says.
pub fn update(state: &AppState, task_id: &str, answers: InputResponses) -> Result<(), McpError> {
    if state.tasks.update_task(task_id, answers).is_ok() {
        return Ok(());
    }
    // Not in memory: known to the store (finished, or from before a restart) means there is
    // nothing to answer.
    match stored::get(&state.store, task_id).map_err(internal)? {
        Some(_) => Ok(()),
        None => Err(unknown(task_id)),
    }
}

/// What `cancel_run` and `tasks/cancel` found.
pub enum Cancelled {
    /// The run was in progress and is stopping.
    Stopping { run_id: String },
    /// The run is not in progress (here): it ended with this status.
    NotRunning { run_id: String, status: String },
    /// No run or task has this id.
    Unknown,
}

/// Cancel the run that `id` names (a run id or a task id): `cancel_run` and `tasks/cancel`
/// are this one operation. A task of the run is told too, which wakes a run waiting for
/// its client's input.
pub fn cancel(state: &AppState, id: &str) -> Result<Cancelled, McpError> {
    let Some(run_id) = stored::resolve_run_id(&state.store, id).map_err(internal)? else {
        return Ok(Cancelled::Unknown);
    };
    let stopping = state.runs.cancel(&run_id);
    if let Some(task) = stored::for_run(&state.store, &run_id).map_err(internal)? {
        // Unknown to rmcp after a restart or once expired: nothing waits there.
        let _ = state.tasks.cancel_task(&task.task_id);
    }
    if stopping {
        return Ok(Cancelled::Stopping { run_id });
    }
    let status = apex_store::runs::get_run(&state.store, &run_id)
        .map_err(internal)?
        .map(|r| r.status)
        .unwrap_or_else(|| "unknown".into());
    Ok(Cancelled::NotRunning { run_id, status })
}

/// A run id or task id, resolved to the run it names (unchanged when it names none).
pub fn run_id_of(state: &AppState, id: &str) -> String {
    stored::resolve_run_id(&state.store, id)
        .ok()
        .flatten()
        .unwrap_or_else(|| id.to_string())
}

fn unknown(task_id: &str) -> McpError {
    McpError::invalid_params(
        format!("unknown task `{task_id}`: no task of this server has that id"),
        None,
    )
}

fn internal(e: impl std::fmt::Display) -> McpError {
    McpError::internal_error(e.to_string(), None)
}
