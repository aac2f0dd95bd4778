//! Read-side SQL over workload datasets for the analysis agents and the data tools: one
//! streaming scan of a dataset's model calls, the duplicate-prompt aggregation, the bounded
//! read-only execution of a client's `query_data` SELECT, and the text of the SQL queries
//! that reproduce each figure of a report.
//!
//! It owns SQL text only; it does not aggregate, price or judge (that is `agents`).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use rusqlite::types::ValueRef;
use rusqlite::{Connection, params};
use serde::Serialize;
use serde_json::Value;

use super::{Result, Store, StoreError};

/// Records that are model calls, as opposed to tool or agent spans (whose cost, if any, is
/// the sum of their children's and would be counted twice).
pub const MODEL_CALL_PREDICATE: &str =
    "operation NOT IN ('execute_tool', 'invoke_agent', 'create_agent')";

/// Operations that are not model calls (see [`MODEL_CALL_PREDICATE`]).
pub use apex_core::workload::NON_MODEL_OPERATIONS;

/// Substrings of `workload_type` or `feature` (ASCII, case-insensitive) that mark work no
/// user waits for, which the providers' batch APIs can serve.
pub const NON_INTERACTIVE_MARKERS: &[&str] = &[
    "batch", "offline", "backfill", "nightly", "etl", "eval", "bulk", "async",
];

/// One record of the dataset scan, borrowed from the SQLite row.
#[derive(Debug)]
pub struct CallRow<'a> {
    pub provider: &'a str,
    pub model: &'a str,
    pub feature: &'a str,
    pub tenant: &'a str,
    pub timestamp: &'a str,
    pub workload_type: &'a str,
    pub operation: &'a str,
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub cache_read_tokens: u64,
    pub cache_write_tokens: u64,
    pub latency_ms: f64,
    pub ttft_ms: Option<f64>,
    pub status: &'a str,
    pub error_type: Option<&'a str>,
    pub has_prompt_hash: bool,
    pub cost_usd: f64,
}

/// Stream every record of `dataset` through `f`, in no particular order, without sorting.
/// `f` returns `false` to stop early (cancellation). Returns the number of rows seen.
pub fn scan_calls(
    conn: &Connection,
    dataset: &str,
    mut f: impl FnMut(&CallRow<'_>) -> bool,
) -> Result<u64> {
    let mut stmt = conn.prepare(
        "SELECT provider, model, feature, tenant, timestamp, workload_type, operation,
                input_tokens, output_tokens, cache_read_tokens, cache_write_tokens, latency_ms,
                ttft_ms, status, error_type, (prompt_hash IS NOT NULL AND prompt_hash <> ''),
                cost_usd
         FROM workload_records WHERE dataset = ?1",
    )?;
    let mut rows = stmt.query(params![dataset])?;
    let mut n = 0u64;
    while let Some(r) = rows.next()? {
        let text = |i: usize| -> Result<&str> { r.get_ref(i)?.as_str().map_err(bad_type(i)) };
        let row = CallRow {
            provider: text(0)?,
            model: text(1)?,
            feature: text(2)?,
            tenant: text(3)?,
            timestamp: text(4)?,
            workload_type: text(5)?,
            operation: text(6)?,
            input_tokens: r.get::<_, i64>(7)?.max(0) as u64,
            output_tokens: r.get::<_, i64>(8)?.max(0) as u64,
            cache_read_tokens: r.get::<_, i64>(9)?.max(0) as u64,
            cache_write_tokens: r.get::<_, i64>(10)?.max(0) as u64,
            latency_ms: r.get(11)?,
            ttft_ms: r.get(12)?,
            status: text(13)?,
            error_type: r.get_ref(14)?.as_str_or_null().map_err(bad_type(14))?,
            has_prompt_hash: r.get::<_, i64>(15)? != 0,
            cost_usd: r.get(16)?,
        };
        n += 1;
        if !f(&row) {
            break;
        }
    }
    Ok(n)
}

fn bad_type(col: usize) -> impl Fn(rusqlite::types::FromSqlError) -> StoreError {
    move |e| {
        StoreError::Invalid(format!(
            "workload_records column {col} has an unexpected type: {e}"
        ))
    }
}

/// Repeated prompts of one model: successful calls whose `prompt_hash` was already seen on
/// the same provider and model.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DuplicateRow {
    pub provider: String,
    pub model: String,
    /// Distinct prompts sent more than once.
    pub repeated_prompts: u64,
    /// Calls carrying those prompts (first sends included).
    pub calls: u64,
    /// Calls beyond the first send of each prompt.
    pub repeats: u64,
    /// The cost of the repeats, at each prompt's average cost per call.
    pub repeat_cost_usd: f64,
}

/// The SQL of [`duplicates`]: it is both what runs and what a report cites.
pub fn sql_duplicates(dataset: &str) -> String {
    format!(
        "SELECT provider, model, COUNT(*) AS repeated_prompts, SUM(n) AS calls, SUM(n - 1) AS repeats, \
         SUM(cost * (n - 1) / n) AS repeat_cost_usd FROM (SELECT provider, model, prompt_hash, \
         COUNT(*) AS n, SUM(cost_usd) AS cost FROM workload_records WHERE dataset = '{dataset}' \
         AND status = 'ok' AND prompt_hash IS NOT NULL AND prompt_hash <> '' AND {MODEL_CALL_PREDICATE} \
         GROUP BY provider, model, prompt_hash HAVING COUNT(*) > 1) GROUP BY provider, model \
         ORDER BY repeat_cost_usd DESC, provider, model"
    )
}

/// Repeated prompts per provider and model, most costly first.
pub fn duplicates(conn: &Connection, dataset: &str) -> Result<Vec<DuplicateRow>> {
    super::datasets::validate_name(dataset)?;
    let mut stmt = conn.prepare(&sql_duplicates(dataset))?;
    let rows = stmt.query_map([], |r| {
        Ok(DuplicateRow {
            provider: r.get(0)?,
            model: r.get(1)?,
            repeated_prompts: r.get::<_, i64>(2)? as u64,
            calls: r.get::<_, i64>(3)? as u64,
            repeats: r.get::<_, i64>(4)? as u64,
            repeat_cost_usd: r.get::<_, Option<f64>>(5)?.unwrap_or(0.0),
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
}

// ---------------------------------------------------------------- reproducing queries

/// `WHERE` clause of a dataset's model calls.
fn calls_where(dataset: &str) -> String {
    format!("WHERE dataset = '{dataset}' AND {MODEL_CALL_PREDICATE}")
}

/// The SQL predicate of [`NON_INTERACTIVE_MARKERS`] (LIKE is ASCII case-insensitive).
pub fn non_interactive_predicate() -> String {
    let parts: Vec<String> = NON_INTERACTIVE_MARKERS
        .iter()
        .flat_map(|m| {
            [
                format!("workload_type LIKE '%{m}%'"),
                format!("feature LIKE '%{m}%'"),
            ]
        })
        .collect();
    format!("({})", parts.join(" OR "))
}

/// Totals of a dataset: records, model calls, spend, tokens, errors, time range.
pub fn sql_overview(dataset: &str) -> String {
    format!(
        "SELECT COUNT(*) AS records, SUM({MODEL_CALL_PREDICATE}) AS model_calls, \
         SUM(CASE WHEN {MODEL_CALL_PREDICATE} THEN cost_usd ELSE 0 END) AS spend_usd, \
         SUM(CASE WHEN {MODEL_CALL_PREDICATE} THEN input_tokens ELSE 0 END) AS input_tokens, \
         SUM(CASE WHEN {MODEL_CALL_PREDICATE} THEN output_tokens ELSE 0 END) AS output_tokens, \
         SUM(CASE WHEN {MODEL_CALL_PREDICATE} AND status <> 'ok' THEN 1 ELSE 0 END) AS failed_calls, \
         SUM(CASE WHEN {MODEL_CALL_PREDICATE} AND status <> 'ok' THEN cost_usd ELSE 0 END) AS failed_cost_usd, \
         MIN(timestamp) AS first, MAX(timestamp) AS last \
         FROM workload_records WHERE dataset = '{dataset}'"
    )
}

/// A dimension that spend is broken down by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Dimension {
    Provider,
    Model,
    Feature,
    Tenant,
    Day,
}

impl Dimension {
    pub const ALL: [Dimension; 5] = [
        Dimension::Provider,
        Dimension::Model,
        Dimension::Feature,
        Dimension::Tenant,
        Dimension::Day,
    ];

    fn key_sql(self) -> &'static str {
        match self {
            Dimension::Provider => "provider",
            Dimension::Model => "provider, model",
            Dimension::Feature => "feature",
            Dimension::Tenant => "tenant",
            Dimension::Day => "substr(timestamp, 1, 10)",
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Dimension::Provider => "provider",
            Dimension::Model => "model",
            Dimension::Feature => "feature",
            Dimension::Tenant => "tenant",
            Dimension::Day => "day",
        }
    }
}

/// Spend, calls, tokens and failures grouped by one dimension.
pub fn sql_spend_by(dataset: &str, dim: Dimension) -> String {
    let key = dim.key_sql();
    let order = if dim == Dimension::Day {
        key.to_string()
    } else {
        format!("spend_usd DESC, {key}")
    };
    format!(
        "SELECT {key}, COUNT(*) AS calls, SUM(cost_usd) AS spend_usd, SUM(input_tokens) AS input_tokens, \
         SUM(output_tokens) AS output_tokens, SUM(status <> 'ok') AS failed_calls \
         FROM workload_records {} GROUP BY {key} ORDER BY {order}",
        calls_where(dataset)
    )
}

/// The nearest-rank percentile of `expr` over the rows matching `extra` (1-based rank `rank`).
pub fn sql_percentile(dataset: &str, expr: &str, extra: &str, rank: u64) -> String {
    format!(
        "SELECT {expr} FROM workload_records {}{extra} ORDER BY {expr} LIMIT 1 OFFSET {}",
        calls_where(dataset),
        rank.saturating_sub(1)
    )
}

/// Failed model calls and what they cost, by error type.
pub fn sql_errors(dataset: &str) -> String {
    format!(
        "SELECT COALESCE(error_type, 'unknown') AS error_type, COUNT(*) AS calls, SUM(cost_usd) AS cost_usd \
         FROM workload_records {} AND status <> 'ok' GROUP BY 1 ORDER BY cost_usd DESC",
        calls_where(dataset)
    )
}

/// Successful short calls (input and output at most the thresholds) per model.
pub fn sql_short_calls(dataset: &str, max_input: u64, max_output: u64, models: &[&str]) -> String {
    format!(
        "SELECT provider, model, COUNT(*) AS calls, SUM(cost_usd) AS cost_usd, SUM(input_tokens), \
         SUM(output_tokens), SUM(cache_read_tokens), SUM(cache_write_tokens) FROM workload_records {} \
         AND status = 'ok' AND input_tokens <= {max_input} AND output_tokens <= {max_output} \
         AND model IN ({}) GROUP BY provider, model",
        calls_where(dataset),
        quote_list(models)
    )
}

/// Successful non-interactive calls per model.
pub fn sql_non_interactive(dataset: &str, models: &[&str]) -> String {
    format!(
        "SELECT provider, model, COUNT(*) AS calls, SUM(cost_usd) AS cost_usd, SUM(input_tokens), \
         SUM(output_tokens), SUM(cache_read_tokens), SUM(cache_write_tokens) FROM workload_records {} \
         AND status = 'ok' AND {} AND model IN ({}) GROUP BY provider, model",
        calls_where(dataset),
        non_interactive_predicate(),
        quote_list(models)
    )
}

/// Successful calls per provider, model and feature with their smallest prompt and cache use.
pub fn sql_prefix_groups(dataset: &str) -> String {
    format!(
        "SELECT provider, model, feature, COUNT(*) AS calls, SUM(cost_usd) AS cost_usd, \
         MIN(input_tokens) AS min_input_tokens, SUM(cache_read_tokens) AS cache_read_tokens, \
         COUNT(DISTINCT CAST(strftime('%s', timestamp) AS INTEGER) / 300) AS cache_windows \
         FROM workload_records {} AND status = 'ok' GROUP BY provider, model, feature",
        calls_where(dataset)
    )
}

/// Successful calls of one model whose output exceeded `cap` tokens, with the excess.
pub fn sql_output_tail(dataset: &str, provider: &str, model: &str, cap: u64) -> String {
    format!(
        "SELECT COUNT(*) AS calls, SUM(cost_usd) AS cost_usd, SUM(output_tokens - {cap}) AS excess_output_tokens \
         FROM workload_records {} AND status = 'ok' AND provider = {} AND model = {} AND output_tokens > {cap}",
        calls_where(dataset),
        quote(provider),
        quote(model)
    )
}

/// Failed calls that were billed, per model and error type.
pub fn sql_billed_failures(dataset: &str) -> String {
    format!(
        "SELECT provider, model, COALESCE(error_type, 'unknown') AS error_type, COUNT(*) AS calls, \
         SUM(cost_usd) AS cost_usd FROM workload_records {} AND status <> 'ok' AND cost_usd > 0 \
         GROUP BY 1, 2, 3 ORDER BY cost_usd DESC",
        calls_where(dataset)
    )
}

/// A SQL string literal.
pub fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

fn quote_list(items: &[&str]) -> String {
    if items.is_empty() {
        return "NULL".into();
    }
    items
        .iter()
        .map(|s| quote(s))
        .collect::<Vec<_>>()
        .join(", ")
}

// ---------------------------------------------------------------- query_data

/// Bounds of a client's ad-hoc query.
#[derive(Debug, Clone, Copy)]
pub struct QueryLimits {
    pub max_rows: usize,
    pub timeout: Duration,
}

/// The rows of an ad-hoc query.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct QueryResult {
    pub columns: Vec<String>,
    pub rows: Vec<Vec<Value>>,
    /// True when the query had more rows than `max_rows`; the rest were not read.
    pub truncated: bool,
    pub elapsed_ms: u64,
}

/// Why an ad-hoc query was refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    #[error(
        "sql: only one read-only SELECT statement is accepted (optionally starting with WITH); {0}"
    )]
    NotASelect(String),
    #[error("sql: the query ran longer than {0} ms and was stopped; narrow it or add a LIMIT")]
    Timeout(u64),
    #[error("sql: {0}")]
    Sqlite(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Skip whitespace and SQL comments at the start of `sql`.
fn strip_leading_comments(mut sql: &str) -> &str {
    loop {
        sql = sql.trim_start();
        if let Some(rest) = sql.strip_prefix("--") {
            sql = rest.split_once('\n').map(|x| x.1).unwrap_or("");
        } else if let Some(rest) = sql.strip_prefix("/*") {
            sql = rest.split_once("*/").map(|x| x.1).unwrap_or("");
        } else {
            return sql;
        }
    }
}

/// Check that `sql` is one SELECT (or WITH ... SELECT) statement, before SQLite sees it.
pub fn guard_select(sql: &str) -> Result<(), QueryError> {
    let body = strip_leading_comments(sql);
    let first: String = body
        .chars()
        .take_while(|c| c.is_ascii_alphabetic())
        .collect::<String>()
        .to_ascii_uppercase();
    if first != "SELECT" && first != "WITH" {
        let shown = if first.is_empty() {
            "the statement is empty or does not start with a keyword".to_string()
        } else {
            format!("got a statement starting with `{first}`")
        };
        return Err(QueryError::NotASelect(shown));
    }
    Ok(())
}

/// Run one read-only SELECT on a fresh read-only connection, reading at most
/// `limits.max_rows` rows and stopping the statement after `limits.timeout`.
pub fn run_select(
    store: &Store,
    sql: &str,
    limits: QueryLimits,
) -> Result<QueryResult, QueryError> {
    guard_select(sql)?;
    let conn = store.open_reader()?;
    let started = Instant::now();
    // The bundled rusqlite lacks the `hooks` feature (no progress handler): a watchdog
    // thread interrupts the statement at the deadline instead, which SQLite checks as often.
    let interrupt = conn.get_interrupt_handle();
    let done = Arc::new(AtomicBool::new(false));
    let timed_out = Arc::new(AtomicBool::new(false));
    let watchdog = {
        let done = done.clone();
        let timed_out = timed_out.clone();
        let timeout = limits.timeout;
        std::thread::spawn(move || {
            let deadline = Instant::now() + timeout;
            while !done.load(Ordering::Acquire) {
                let now = Instant::now();
                if now >= deadline {
                    timed_out.store(true, Ordering::Release);
                    interrupt.interrupt();
                    return;
                }
                std::thread::park_timeout((deadline - now).min(Duration::from_millis(50)));
            }
        })
    };
    let result = execute(&conn, sql, limits.max_rows);
    done.store(true, Ordering::Release);
    watchdog.thread().unpark();
    let _ = watchdog.join();
    let elapsed_ms = started.elapsed().as_millis() as u64;
    match result {
        Err(_) if timed_out.load(Ordering::Acquire) => {
            Err(QueryError::Timeout(limits.timeout.as_millis() as u64))
        }
        Err(e) => Err(e),
        Ok((columns, rows, truncated)) => Ok(QueryResult {
            columns,
            rows,
            truncated,
            elapsed_ms,
        }),
    }
}

type Rows = (Vec<String>, Vec<Vec<Value>>, bool);

fn execute(conn: &Connection, sql: &str, max_rows: usize) -> Result<Rows, QueryError> {
    let mut stmt = conn.prepare(sql).map_err(|e| match e {
        rusqlite::Error::MultipleStatement => {
            QueryError::NotASelect("the text holds more than one statement".into())
        }
        other => QueryError::Sqlite(other.to_string()),
    })?;
    if !stmt.readonly() {
        return Err(QueryError::NotASelect(
            "the statement would modify the database".into(),
        ));
    }
    let columns: Vec<String> = stmt.column_names().map(|s| s.to_string()).collect();
    let width = columns.len();
    let mut rows = stmt
        .query([])
        .map_err(|e| QueryError::Sqlite(e.to_string()))?;
    let mut out = Vec::new();
    let mut truncated = false;
    while let Some(r) = rows.next().map_err(|e| QueryError::Sqlite(e.to_string()))? {
        if out.len() == max_rows {
            truncated = true;
            break;
        }
        let mut row = Vec::with_capacity(width);
        for i in 0..width {
            let v = r
                .get_ref(i)
                .map_err(|e| QueryError::Sqlite(e.to_string()))?;
            row.push(match v {
                ValueRef::Null => Value::Null,
                ValueRef::Integer(i) => Value::from(i),
                ValueRef::Real(f) => serde_json::Number::from_f64(f)
                    .map(Value::Number)
                    .unwrap_or(Value::Null),
                ValueRef::Text(t) => Value::String(String::from_utf8_lossy(t).into_owned()),
                ValueRef::Blob(b) => Value::String(format!("<{} bytes>", b.len())),
            });
        }
        out.push(row);
    }
    Ok((columns, out, truncated))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_select_and_with_pass_the_guard() {
        assert!(guard_select("SELECT 1").is_ok());
        assert!(guard_select("  -- note\n /* x */ with t as (select 1) select * from t").is_ok());
        for bad in [
            "DELETE FROM datasets",
            "PRAGMA user_version",
            "ATTACH 'x' AS y",
            "",
            "-- only a comment",
        ] {
            let e = guard_select(bad).unwrap_err().to_string();
            assert!(e.contains("only one read-only SELECT"), "{bad}: {e}");
        }
    }

    #[test]
    fn run_select_bounds_rows_and_refuses_writes_and_stacks() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("apex.db")).unwrap();
        let limits = QueryLimits {
            max_rows: 3,
            timeout: Duration::from_secs(5),
        };
        let r = run_select(
            &store,
            "WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < 10) SELECT i, i * 0.5 AS half, 'x' AS s FROM c",
            limits,
        )
        .unwrap();
        assert_eq!(r.columns, vec!["i", "half", "s"]);
        assert_eq!(r.rows.len(), 3);
        assert!(r.truncated);
        assert_eq!(
            r.rows[1],
            vec![Value::from(2), Value::from(1.0), Value::from("x")]
        );

        let e = run_select(&store, "SELECT 1; DELETE FROM datasets", limits).unwrap_err();
        assert!(e.to_string().contains("more than one statement"), "{e}");
        let e =
            run_select(&store, "WITH x AS (SELECT 1) DELETE FROM datasets", limits).unwrap_err();
        assert!(e.to_string().contains("modify"), "{e}");
        let e = run_select(&store, "SELECT nope FROM datasets", limits).unwrap_err();
        assert!(e.to_string().contains("no such column"), "{e}");
    }

    #[test]
    fn run_select_stops_a_runaway_query() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("apex.db")).unwrap();
        let limits = QueryLimits {
            max_rows: 10,
            timeout: Duration::from_millis(200),
        };
        let started = Instant::now();
        let e = run_select(
            &store,
            "WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c) SELECT COUNT(*) FROM c",
            limits,
        )
        .unwrap_err();
        assert!(matches!(e, QueryError::Timeout(200)), "{e}");
        assert!(started.elapsed() < Duration::from_secs(3));
    }
}

/// Property tests of the `query_data` guard: anything but exactly one read-only SELECT
/// (or WITH ... SELECT) is refused and leaves the database as it was; valid SELECTs pass.
#[cfg(test)]
mod guard_proptests {
    use proptest::prelude::*;

    use super::*;
    use crate::datasets;

    const LIMITS: QueryLimits = QueryLimits {
        max_rows: 100,
        timeout: Duration::from_secs(10),
    };

    fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("apex.db")).unwrap();
        store
            .write(|c| {
                let w = datasets::begin_write(c, "seeded")?;
                w.commit("seeded", "synthetic", &Value::Null, &Value::Null)?;
                Ok(())
            })
            .unwrap();
        (dir, store)
    }

    /// Everything a write could change: schema, version, rows.
    fn snapshot(store: &Store) -> (String, i64, i64, i64) {
        store
            .read(|c| {
                let schema: String = c.query_row(
                    "SELECT COALESCE(group_concat(type || name || COALESCE(sql, ''), '|'), '') FROM sqlite_master",
                    [],
                    |r| r.get(0),
                )?;
                let version: i64 = c.pragma_query_value(None, "user_version", |r| r.get(0))?;
                let datasets: i64 =
                    c.query_row("SELECT COUNT(*) FROM datasets", [], |r| r.get(0))?;
                let records: i64 =
                    c.query_row("SELECT COUNT(*) FROM workload_records", [], |r| r.get(0))?;
                Ok((schema, version, datasets, records))
            })
            .unwrap()
    }

    fn mixed_case(word: &'static str) -> impl Strategy<Value = String> {
        prop::collection::vec(any::<bool>(), word.len()).prop_map(move |upper| {
            word.chars()
                .zip(upper)
                .map(|(c, u)| {
                    if u {
                        c.to_ascii_uppercase()
                    } else {
                        c.to_ascii_lowercase()
                    }
                })
                .collect()
        })
    }

    fn prefix() -> impl Strategy<Value = &'static str> {
        prop::sample::select(vec![
            "",
            "  ",
            "\n\t",
            "-- note\n",
            "/* c */ ",
            "/**/-- x\n  ",
        ])
    }

    fn select_body() -> impl Strategy<Value = String> {
        prop_oneof![
            (0i64..1000).prop_map(|n| n.to_string()),
            (0i64..1000, 0i64..1000).prop_map(|(a, b)| format!("{a} + {b} AS s")),
            "[a-z ]{0,12}".prop_map(|s| format!("'{s}' AS text")),
            Just("COUNT(*) FROM workload_records".to_string()),
            (0i64..10).prop_map(|n| format!(
                "name, record_count FROM datasets WHERE record_count >= {n} ORDER BY name LIMIT 5"
            )),
            Just("dataset, SUM(cost_usd) FROM workload_records GROUP BY dataset".to_string()),
            Just("* FROM datasets".to_string()),
        ]
    }

    fn valid_select() -> impl Strategy<Value = String> {
        (
            prefix(),
            mixed_case("select"),
            select_body(),
            any::<bool>(),
            mixed_case("with"),
        )
            .prop_map(|(p, kw, body, wrap, with)| {
                if wrap {
                    format!("{p}{with} t AS ({kw} {body}) {kw} * FROM t")
                } else {
                    format!("{p}{kw} {body}")
                }
            })
    }

    fn write_statement() -> impl Strategy<Value = String> {
        prop_oneof![
            mixed_case("insert").prop_map(|k| format!(
                "{k} INTO datasets (name, source, created_at, record_count) VALUES ('x', 's', 't', 1)"
            )),
            mixed_case("replace").prop_map(|k| format!(
                "{k} INTO datasets (name, source, created_at, record_count) VALUES ('seeded', 's', 't', 9)"
            )),
            mixed_case("update").prop_map(|k| format!("{k} datasets SET record_count = 99")),
            mixed_case("delete").prop_map(|k| format!("{k} FROM datasets")),
            mixed_case("create").prop_map(|k| format!("{k} TABLE evil (x)")),
            mixed_case("create").prop_map(|k| format!(
                "{k} TRIGGER t AFTER INSERT ON datasets BEGIN DELETE FROM datasets; END"
            )),
            mixed_case("drop").prop_map(|k| format!("{k} TABLE datasets")),
            mixed_case("alter").prop_map(|k| format!("{k} TABLE datasets ADD COLUMN z")),
            mixed_case("attach").prop_map(|k| format!("{k} DATABASE '/tmp/apex-evil.db' AS evil")),
            mixed_case("detach").prop_map(|k| format!("{k} DATABASE main")),
            mixed_case("pragma").prop_map(|k| format!("{k} user_version = 77")),
            mixed_case("pragma").prop_map(|k| format!("{k} journal_mode = DELETE")),
            mixed_case("pragma").prop_map(|k| format!("{k} writable_schema = ON")),
            mixed_case("vacuum").prop_map(|k| k.to_string()),
            mixed_case("reindex").prop_map(|k| k.to_string()),
            mixed_case("analyze").prop_map(|k| k.to_string()),
            mixed_case("begin").prop_map(|k| format!("{k} IMMEDIATE")),
            mixed_case("savepoint").prop_map(|k| format!("{k} s")),
        ]
    }

    fn refused() -> impl Strategy<Value = String> {
        prop_oneof![
            (prefix(), write_statement()).prop_map(|(p, w)| format!("{p}{w}")),
            (valid_select(), write_statement(), prefix())
                .prop_map(|(s, w, p)| format!("{s};{p}{w}")),
            (valid_select(), valid_select()).prop_map(|(a, b)| format!("{a}; {b}")),
            (prefix(), mixed_case("with"), write_statement())
                .prop_map(|(p, k, w)| format!("{p}{k} x AS (SELECT 1) {w}")),
            (mixed_case("with"), write_statement())
                .prop_map(|(k, w)| format!("{k} x AS ({w} RETURNING *) SELECT * FROM x")),
            (mixed_case("select"), "[a-z./]{0,16}")
                .prop_map(|(k, lib)| format!("{k} load_extension('{lib}')")),
            (mixed_case("select"), "[a-z./]{0,16}").prop_map(|(k, lib)| format!(
                "{k} * FROM datasets WHERE load_extension('{lib}') IS NULL"
            )),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 256, .. ProptestConfig::default() })]

        #[test]
        fn valid_selects_are_accepted(sql in valid_select()) {
            let (_d, store) = store();
            let r = run_select(&store, &sql, LIMITS);
            prop_assert!(r.is_ok(), "{sql}: {:?}", r.err().map(|e| e.to_string()));
        }

        #[test]
        fn anything_else_is_refused_and_changes_nothing(sql in refused()) {
            let (_d, store) = store();
            let before = snapshot(&store);
            let r = run_select(&store, &sql, LIMITS);
            prop_assert!(r.is_err(), "accepted: {sql}");
            let msg = r.err().map(|e| e.to_string()).unwrap_or_default();
            prop_assert!(msg.starts_with("sql: "), "{sql}: {msg}");
            prop_assert_eq!(snapshot(&store), before, "{}", sql);
            prop_assert!(!std::path::Path::new("/tmp/apex-evil.db").exists());
        }

        #[test]
        fn arbitrary_text_never_panics_or_writes(sql in prop_oneof![
            ".{0,80}".prop_map(String::from),
            prop::collection::vec(prop::sample::select(vec![
                "SELECT", "WITH", "INSERT", "DELETE", "PRAGMA", "ATTACH", "(", ")", ";", "--",
                "/*", "*/", "'", "\"", "1", "x", "AS", "FROM", "datasets", "RETURNING", "*", ",",
                "\n", " ",
            ]), 0..16).prop_map(|t| t.join(" ")),
        ]) {
            let (_d, store) = store();
            let before = snapshot(&store);
            let _ = run_select(&store, &sql, LIMITS);
            prop_assert_eq!(snapshot(&store), before, "{}", sql);
        }
    }
}
