//! The event vocabulary of long runs and the [`EventSink`] they report through.
//!
//! Capability libraries (search, synth, testrun, agents) never know about MCP: they call
//! [`EventSink::emit`] and the face that started them decides where events go (the store,
//! `notifications/progress`, logging notifications, a terminal progress bar).

use std::sync::Mutex;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Every event name a run may emit. Agent runs use the seven events of the original system
/// (plus `agent_error`); tests, generation, indexing and ingest have their own three.
pub const EVENT_NAMES: &[&str] = &[
    "agent_started",
    "agent_thinking",
    "tool_executing",
    "tool_completed",
    "partial_result",
    "final_report",
    "agent_completed",
    "agent_error",
    "suite_started",
    "test_finished",
    "suite_finished",
    "generation_started",
    "batch_written",
    "generation_finished",
    "index_started",
    "files_indexed",
    "index_finished",
    "symbols_started",
    "symbols_extracted",
    "ingest_started",
    "records_ingested",
    "ingest_finished",
];

/// One event of a run: `{event, run_id, seq, ts, data}`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Event {
    pub event: String,
    pub run_id: String,
    /// Strictly increasing within a run, starting at 1.
    pub seq: u64,
    /// RFC 3339 timestamp with milliseconds, UTC.
    pub ts: String,
    pub data: Value,
}

impl Event {
    /// A one-line summary used as the progress message: `"<event>: <short text>"`.
    pub fn short_message(&self) -> String {
        let text = [
            "message",
            "reasoning",
            "name",
            "tool_name",
            "status",
            "path",
        ]
        .iter()
        .find_map(|k| self.data.get(*k).and_then(Value::as_str))
        .map(|s| truncate_chars(s, 120))
        .or_else(|| {
            let done = self.data.get("done").and_then(Value::as_u64)?;
            Some(match self.data.get("total").and_then(Value::as_u64) {
                Some(t) => format!("{done}/{t}"),
                None => done.to_string(),
            })
        })
        .unwrap_or_default();
        if text.is_empty() {
            self.event.clone()
        } else {
            format!("{}: {}", self.event, text)
        }
    }
}

/// Cut `s` to at most `max` characters, marking the cut with an ellipsis.
pub fn truncate_chars(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        None => s.to_string(),
        Some((i, _)) => format!("{}…", &s[..i]),
    }
}

/// Where a run reports what it is doing.
///
/// Implementations assign `seq` and `ts`; emitters only name the event and give its data.
/// `emit` is synchronous and cheap so that it can be called from blocking worker threads.
pub trait EventSink: Send + Sync {
    /// Record one event of the run.
    fn emit(&self, event: &str, data: Value);

    /// Announce how many events the run will emit in all, when the emitter knows it
    /// (e.g. one per test plus two). Used as the `total` of progress notifications.
    fn expect_total(&self, _total_events: u64) {}

    /// Announce `more` events on top of those emitted so far (when a run learns of work it
    /// did not know about at its start, such as the symbol pass of an index build).
    fn expect_more(&self, _more: u64) {}
}

/// A sink that drops everything, for callers that do not care (and unit tests).
#[derive(Debug, Default, Clone, Copy)]
pub struct NullSink;

impl EventSink for NullSink {
    fn emit(&self, _event: &str, _data: Value) {}
}

/// A sink that keeps every event in memory, in order. Useful in tests and CLI summaries.
#[derive(Debug, Default)]
pub struct CollectingSink {
    events: Mutex<Vec<(String, Value)>>,
}

impl CollectingSink {
    pub fn new() -> Self {
        Self::default()
    }

    /// The events seen so far, as `(event, data)` pairs.
    pub fn events(&self) -> Vec<(String, Value)> {
        self.events.lock().map(|e| e.clone()).unwrap_or_default()
    }

    /// The names of the events seen so far, in order.
    pub fn names(&self) -> Vec<String> {
        self.events().into_iter().map(|(n, _)| n).collect()
    }
}

impl EventSink for CollectingSink {
    fn emit(&self, event: &str, data: Value) {
        if let Ok(mut events) = self.events.lock() {
            events.push((event.to_string(), data));
        }
    }
}

/// The current time as the RFC 3339 string events carry.
pub fn now_ts() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// A fresh run id: `<kind>-<yyyymmddHHMMSS>-<8 hex>`, sortable by start time.
pub fn new_run_id(kind: &str) -> String {
    let now = chrono::Utc::now();
    let nanos = now.timestamp_subsec_nanos() as u64;
    let mixed = nanos ^ (std::process::id() as u64).rotate_left(32) ^ next_counter();
    format!(
        "{kind}-{}-{:08x}",
        now.format("%Y%m%d%H%M%S"),
        xxhash_rust::xxh3::xxh3_64(&mixed.to_le_bytes()) as u32
    )
}

fn next_counter() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    COUNTER.fetch_add(1, Ordering::Relaxed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_message_prefers_message_then_counts() {
        let e = Event {
            event: "batch_written".into(),
            run_id: "r".into(),
            seq: 3,
            ts: now_ts(),
            data: serde_json::json!({"done": 20, "total": 100}),
        };
        assert_eq!(e.short_message(), "batch_written: 20/100");
        let e = Event {
            data: serde_json::json!({"message": "hello"}),
            ..e
        };
        assert_eq!(e.short_message(), "batch_written: hello");
    }

    #[test]
    fn run_ids_are_unique_and_prefixed() {
        let a = new_run_id("test");
        let b = new_run_id("test");
        assert!(a.starts_with("test-"));
        assert_ne!(a, b);
    }

    #[test]
    fn truncation_respects_char_boundaries() {
        assert_eq!(truncate_chars("héllo wörld", 4), "héll…");
        assert_eq!(truncate_chars("abc", 10), "abc");
    }
}
