//! Test runs and their per-test results (`test_runs`, `test_results`), and the flaky-test
//! question: which tests both passed and failed on the same clean commit.
//!
//! It stores what the test runner library found; it does not run or parse anything. The
//! run's event log lives in the generic `runs`/`events` tables (see [`super::runs`]).

use rusqlite::{OptionalExtension, params};
use serde::{Deserialize, Serialize};

use super::{Result, Store};

/// One test of a run, as the runner reported it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct TestResult {
    /// The test's name as its runner spells it (a filter that selects it alone).
    pub name: String,
    /// Where the runner groups it: cargo test binary, go package, JS file; empty if none.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub group: String,
    /// `passed`, `failed`, `skipped` or `errored`.
    pub status: String,
    /// Milliseconds, when the runner measured it.
    pub duration_ms: Option<f64>,
    /// The failure (or skip) message, when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Captured output (bounded).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output: Option<String>,
    /// Source file of the failure or of the test, relative to where the runner ran.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<u32>,
}

/// Pass/fail/skip/error counts of a run.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
pub struct TestCounts {
    pub passed: u64,
    pub failed: u64,
    pub skipped: u64,
    pub errored: u64,
}

impl TestCounts {
    pub fn total(&self) -> u64 {
        self.passed + self.failed + self.skipped + self.errored
    }

    /// Count the results, taking the last record of each seq as final.
    pub fn of(results: &[TestResult]) -> Self {
        let mut c = Self::default();
        for r in results {
            match r.status.as_str() {
                "passed" => c.passed += 1,
                "failed" => c.failed += 1,
                "skipped" => c.skipped += 1,
                _ => c.errored += 1,
            }
        }
        c
    }
}

/// One stored test run.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct TestRunRow {
    pub id: String,
    /// The directory the tests ran in, relative to the workspace root (`.` for the root).
    pub path: String,
    pub framework: String,
    pub suite: Option<String>,
    pub filter: Option<String>,
    /// The command line that ran, one argument per element.
    pub command: Vec<String>,
    /// `git rev-parse HEAD` at the start, or none outside git.
    pub commit: Option<String>,
    /// Whether `git status --porcelain` showed changes, or none outside git.
    pub dirty: Option<bool>,
    /// `running`, `passed`, `failed`, `errored`, `timed_out` or `cancelled`.
    pub status: String,
    pub exit_code: Option<i32>,
    pub started_at: String,
    pub finished_at: Option<String>,
    pub duration_ms: Option<u64>,
    pub counts: TestCounts,
    /// Where the full console log is kept.
    pub log_path: Option<String>,
    /// Why the run errored, timed out or was cancelled, with the tail of its output.
    pub error: Option<String>,
}

/// Register a run in state `running`.
pub fn insert_run(store: &Store, run: &TestRunRow) -> Result<()> {
    let command = serde_json::to_string(&run.command).unwrap_or_else(|_| "[]".into());
    store.write(|c| {
        c.execute(
            "INSERT INTO test_runs (id, path, framework, suite, filter, command, commit_sha, dirty,
                status, started_at, log_path)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
            params![
                run.id,
                run.path,
                run.framework,
                run.suite,
                run.filter,
                command,
                run.commit,
                run.dirty,
                run.status,
                run.started_at,
                run.log_path
            ],
        )?;
        Ok(())
    })
}

/// Store result number `seq` of a run, replacing an earlier record with the same number
/// (a test that passed its body and then failed its teardown is reported twice). Not synced
/// on its own: the run's end (a durable write) is.
pub fn put_result(store: &Store, run_id: &str, seq: usize, r: &TestResult) -> Result<()> {
    store.write_bulk(|c| {
        c.execute(
            "INSERT OR REPLACE INTO test_results
                (run_id, seq, grp, name, status, duration_ms, message, output, file, line)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
            params![
                run_id,
                seq as i64,
                r.group,
                r.name,
                r.status,
                r.duration_ms,
                r.message,
                r.output,
                r.file,
                r.line
            ],
        )?;
        Ok(())
    })
}

/// How a run ended.
#[derive(Debug, Clone)]
pub struct RunEnd<'a> {
    pub status: &'a str,
    pub exit_code: Option<i32>,
    pub finished_at: &'a str,
    pub duration_ms: u64,
    pub counts: TestCounts,
    pub error: Option<&'a str>,
}

pub fn finish_run(store: &Store, run_id: &str, end: &RunEnd<'_>) -> Result<()> {
    store.write(|c| {
        c.execute(
            "UPDATE test_runs SET status = ?2, exit_code = ?3, finished_at = ?4, duration_ms = ?5,
                passed = ?6, failed = ?7, skipped = ?8, errored = ?9, error = ?10
             WHERE id = ?1",
            params![
                run_id,
                end.status,
                end.exit_code,
                end.finished_at,
                end.duration_ms as i64,
                end.counts.passed as i64,
                end.counts.failed as i64,
                end.counts.skipped as i64,
                end.counts.errored as i64,
                end.error
            ],
        )?;
        Ok(())
    })
}

/// Runs left `running` by a process that died: mark them `interrupted`.
pub fn mark_interrupted(store: &Store, finished_at: &str) -> Result<usize> {
    store.write(|c| {
        Ok(c.execute(
            "UPDATE test_runs SET status = 'interrupted', finished_at = ?1 WHERE status = 'running'",
            params![finished_at],
        )?)
    })
}

const RUN_COLUMNS: &str = "id, path, framework, suite, filter, command, commit_sha, dirty, status,
    exit_code, started_at, finished_at, duration_ms, passed, failed, skipped, errored, log_path, error";

fn row_to_run(r: &rusqlite::Row<'_>) -> rusqlite::Result<TestRunRow> {
    let command: String = r.get(5)?;
    let get_u64 = |i: usize| -> rusqlite::Result<u64> { Ok(r.get::<_, i64>(i)?.max(0) as u64) };
    Ok(TestRunRow {
        id: r.get(0)?,
        path: r.get(1)?,
        framework: r.get(2)?,
        suite: r.get(3)?,
        filter: r.get(4)?,
        command: serde_json::from_str(&command).unwrap_or_default(),
        commit: r.get(6)?,
        dirty: r.get(7)?,
        status: r.get(8)?,
        exit_code: r.get(9)?,
        started_at: r.get(10)?,
        finished_at: r.get(11)?,
        duration_ms: r.get::<_, Option<i64>>(12)?.map(|d| d.max(0) as u64),
        counts: TestCounts {
            passed: get_u64(13)?,
            failed: get_u64(14)?,
            skipped: get_u64(15)?,
            errored: get_u64(16)?,
        },
        log_path: r.get(17)?,
        error: r.get(18)?,
    })
}

pub fn get_run(store: &Store, id: &str) -> Result<Option<TestRunRow>> {
    store.read(|c| {
        Ok(c.query_row(
            &format!("SELECT {RUN_COLUMNS} FROM test_runs WHERE id = ?1"),
            params![id],
            row_to_run,
        )
        .optional()?)
    })
}

/// The newest runs, newest first; only those that ran in `path` when given.
pub fn list_runs(store: &Store, path: Option<&str>, limit: usize) -> Result<Vec<TestRunRow>> {
    store.read(|c| {
        let mut stmt = c.prepare(&format!(
            "SELECT {RUN_COLUMNS} FROM test_runs WHERE (?1 IS NULL OR path = ?1)
             ORDER BY started_at DESC, id DESC LIMIT ?2"
        ))?;
        let rows = stmt.query_map(params![path, limit as i64], row_to_run)?;
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
    })
}

/// The results of a run in the order they were reported.
pub fn results(store: &Store, run_id: &str) -> Result<Vec<TestResult>> {
    store.read(|c| {
        let mut stmt = c.prepare(
            "SELECT grp, name, status, duration_ms, message, output, file, line
             FROM test_results WHERE run_id = ?1 ORDER BY seq",
        )?;
        let rows = stmt.query_map(params![run_id], |r| {
            Ok(TestResult {
                group: r.get(0)?,
                name: r.get(1)?,
                status: r.get(2)?,
                duration_ms: r.get(3)?,
                message: r.get(4)?,
                output: r.get(5)?,
                file: r.get(6)?,
                line: r.get(7)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
    })
}

/// Tests of run `run_id` that, on the run's commit, passed in one clean run and failed in
/// another (in the same directory with the same framework), as `(group, name)`. Runs on a
/// dirty tree are left out: the code there may differ between runs. Empty outside git.
pub fn flaky(store: &Store, run_id: &str) -> Result<Vec<(String, String)>> {
    store.read(|c| {
        let mut stmt = c.prepare(
            "SELECT r.grp, r.name FROM test_results r
             JOIN test_runs t ON t.id = r.run_id
             JOIN test_runs me ON me.id = ?1
             WHERE me.commit_sha IS NOT NULL AND t.commit_sha = me.commit_sha
               AND t.dirty = 0 AND t.path = me.path AND t.framework = me.framework
               AND EXISTS (SELECT 1 FROM test_results x
                           WHERE x.run_id = ?1 AND x.name = r.name AND x.grp = r.grp)
             GROUP BY r.grp, r.name
             HAVING SUM(r.status = 'passed') > 0 AND SUM(r.status IN ('failed', 'errored')) > 0
             ORDER BY r.grp, r.name",
        )?;
        let rows = stmt.query_map(params![run_id], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(id: &str, commit: Option<&str>, dirty: Option<bool>) -> TestRunRow {
        TestRunRow {
            id: id.into(),
            path: ".".into(),
            framework: "cargo".into(),
            suite: None,
            filter: None,
            command: vec!["cargo".into(), "test".into()],
            commit: commit.map(str::to_string),
            dirty,
            status: "running".into(),
            exit_code: None,
            started_at: format!("2026-01-01T00:00:0{}Z", id.len() % 10),
            finished_at: None,
            duration_ms: None,
            counts: TestCounts::default(),
            log_path: None,
            error: None,
        }
    }

    fn result(name: &str, status: &str) -> TestResult {
        TestResult {
            name: name.into(),
            status: status.into(),
            ..Default::default()
        }
    }

    #[test]
    fn stores_runs_and_results_and_finds_flaky_tests_on_clean_commits() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("apex.db")).unwrap();
        // Two clean runs on commit abc: `a` flips, `b` is steady. A dirty run where `b`
        // fails does not make `b` flaky; neither does a run on another commit.
        for (id, commit, dirty, a, b) in [
            ("r1", "abc", false, "passed", "passed"),
            ("r22", "abc", false, "failed", "passed"),
            ("r333", "abc", true, "passed", "failed"),
            ("r4444", "def", false, "failed", "failed"),
        ] {
            insert_run(&store, &run(id, Some(commit), Some(dirty))).unwrap();
            put_result(&store, id, 0, &result("a", a)).unwrap();
            put_result(&store, id, 1, &result("b", b)).unwrap();
        }
        assert_eq!(
            flaky(&store, "r1").unwrap(),
            vec![(String::new(), "a".into())]
        );
        assert_eq!(flaky(&store, "r333").unwrap().len(), 1);
        assert!(flaky(&store, "r4444").unwrap().is_empty());

        // Replacing a result keeps one row per seq.
        put_result(&store, "r1", 1, &result("b", "errored")).unwrap();
        let rs = results(&store, "r1").unwrap();
        assert_eq!(rs.len(), 2);
        assert_eq!(rs[1].status, "errored");
        let counts = TestCounts::of(&rs);
        assert_eq!((counts.passed, counts.errored, counts.total()), (1, 1, 2));

        finish_run(
            &store,
            "r1",
            &RunEnd {
                status: "failed",
                exit_code: Some(101),
                finished_at: "2026-01-01T00:00:09Z",
                duration_ms: 1234,
                counts,
                error: None,
            },
        )
        .unwrap();
        let got = get_run(&store, "r1").unwrap().unwrap();
        assert_eq!(got.status, "failed");
        assert_eq!(got.counts, counts);
        assert_eq!(got.command, vec!["cargo", "test"]);
        assert_eq!(got.dirty, Some(false));
        assert_eq!(list_runs(&store, Some("."), 2).unwrap().len(), 2);
        assert!(list_runs(&store, Some("sub"), 10).unwrap().is_empty());
        assert_eq!(mark_interrupted(&store, "now").unwrap(), 3);
    }

    #[test]
    fn runs_outside_git_are_never_flaky() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("apex.db")).unwrap();
        for (id, status) in [("x1", "passed"), ("x22", "failed")] {
            insert_run(&store, &run(id, None, None)).unwrap();
            put_result(&store, id, 0, &result("a", status)).unwrap();
        }
        assert!(flaky(&store, "x1").unwrap().is_empty());
    }
}
