//! jest and vitest: the JSON report both write (`testResults[].assertionResults[]`), read
//! when the run ends, plus vitest's verbose lines (`✓ file > describe > test 3ms`) that
//! stream each result while it runs. The report then adds messages and locations.

use std::path::{Path, PathBuf};
use std::sync::LazyLock;

use regex::Regex;
use serde_json::Value;

use super::{OutputParser, Parsed, Stream, strip_ansi, test};

static VERBOSE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^\s*(✓|√|×|✗|↓) (.+? > .+?)(?: (\d+(?:\.\d+)?)ms)?$").expect("static regex")
});

pub struct JsReport {
    dir: PathBuf,
    file: Option<PathBuf>,
    stdout: Option<String>,
}

impl JsReport {
    pub fn from_file(dir: PathBuf, file: Option<PathBuf>) -> Self {
        Self {
            dir,
            file,
            stdout: None,
        }
    }

    pub fn from_stdout(dir: PathBuf) -> Self {
        Self {
            dir,
            file: None,
            stdout: Some(String::new()),
        }
    }
}

impl OutputParser for JsReport {
    fn line(&mut self, stream: Stream, line: &str, out: &mut Vec<Parsed>) {
        if let (Some(buf), Stream::Stdout) = (&mut self.stdout, stream) {
            if buf.len() < 64 << 20 {
                buf.push_str(line);
                buf.push('\n');
            }
            return;
        }
        if let Some(c) = VERBOSE.captures(line) {
            let mut parts = c[2].splitn(2, " > ");
            let (group, name) = match (parts.next(), parts.next()) {
                (Some(g), Some(n)) => (g, n),
                _ => return,
            };
            let status = match &c[1] {
                "✓" | "√" => "passed",
                "↓" => "skipped",
                _ => "failed",
            };
            let mut t = test(group, name, status);
            t.duration_ms = c.get(3).and_then(|d| d.as_str().parse().ok());
            out.push(Parsed::Test(t));
        }
    }

    fn finish(&mut self, out: &mut Vec<Parsed>) {
        let text = match (&self.file, &self.stdout) {
            (Some(f), _) => std::fs::read_to_string(f).unwrap_or_default(),
            (None, Some(s)) => s.find('{').map(|i| s[i..].to_string()).unwrap_or_default(),
            _ => String::new(),
        };
        if let Ok(doc) = serde_json::from_str::<Value>(&text) {
            out.extend(parse_report(&doc, &self.dir).into_iter().map(Parsed::Test));
        }
    }
}

fn relative(dir: &Path, file: &str) -> String {
    Path::new(file)
        .strip_prefix(dir)
        .map(|p| p.display().to_string())
        .unwrap_or_else(|_| file.to_string())
}

/// The tests of a jest/vitest JSON report.
pub fn parse_report(doc: &Value, dir: &Path) -> Vec<apex_store::testruns::TestResult> {
    let mut results = Vec::new();
    let files = doc
        .get("testResults")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    for f in files {
        let abs = f.get("name").and_then(Value::as_str).unwrap_or("");
        let group = relative(dir, abs);
        let cases = f
            .get("assertionResults")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        if cases.is_empty() && f.get("status").and_then(Value::as_str) == Some("failed") {
            // The file itself failed: a syntax error, an import that threw.
            let mut t = test(&group, "(file)", "errored");
            let msg = strip_ansi(f.get("message").and_then(Value::as_str).unwrap_or(""));
            t.message = msg
                .lines()
                .find(|l| !l.trim().is_empty())
                .map(|l| l.trim().to_string());
            t.output = Some(msg);
            t.file = Some(group.clone());
            results.push(t);
            continue;
        }
        let loc_re = Regex::new(&format!(r"{}:(\d+):\d+", regex::escape(abs))).ok();
        for c in cases {
            let title = c.get("title").and_then(Value::as_str).unwrap_or("");
            let mut path: Vec<String> = c
                .get("ancestorTitles")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(|v| v.as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default();
            path.push(title.to_string());
            let status = match c.get("status").and_then(Value::as_str).unwrap_or("") {
                "passed" => "passed",
                "failed" => "failed",
                _ => "skipped",
            };
            let mut t = test(&group, &path.join(" > "), status);
            t.duration_ms = c.get("duration").and_then(Value::as_f64);
            let failures: Vec<String> = c
                .get("failureMessages")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(|v| v.as_str().map(strip_ansi))
                        .collect()
                })
                .unwrap_or_default();
            if let Some(first) = failures.first() {
                t.message = first.lines().next().map(str::to_string);
                t.output = Some(failures.join("\n"));
                t.file = Some(group.clone());
                t.line = loc_re
                    .as_ref()
                    .and_then(|re| re.captures(first))
                    .and_then(|m| m[1].parse().ok());
            }
            if let Some(line) = c.pointer("/location/line").and_then(Value::as_u64) {
                t.file = Some(group.clone());
                t.line = Some(line as u32);
            }
            results.push(t);
        }
    }
    results
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vitest_verbose_lines_stream_results() {
        let mut p = JsReport::from_file(PathBuf::from("/p"), None);
        let mut out = Vec::new();
        for l in [
            " ✓ sample.test.js > add > adds small numbers 1ms",
            " × sample.test.js > add > wrong sum fails 9ms",
            "   → two plus two is not five",
            " ↓ sample.test.js > add > needs a network",
            " RUN  v3.2.4 /p",
        ] {
            p.line(Stream::Stdout, l, &mut out);
        }
        let s: Vec<_> = out
            .iter()
            .map(|p| match p {
                Parsed::Test(t) => (
                    t.group.as_str(),
                    t.name.as_str(),
                    t.status.as_str(),
                    t.duration_ms,
                ),
                _ => panic!(),
            })
            .collect();
        assert_eq!(
            s,
            vec![
                (
                    "sample.test.js",
                    "add > adds small numbers",
                    "passed",
                    Some(1.0)
                ),
                (
                    "sample.test.js",
                    "add > wrong sum fails",
                    "failed",
                    Some(9.0)
                ),
                ("sample.test.js", "add > needs a network", "skipped", None),
            ]
        );
    }

    #[test]
    fn jest_style_report() {
        let doc = serde_json::json!({"testResults": [
            {"name": "/p/a.test.js", "status": "failed", "assertionResults": [
                {"ancestorTitles": ["add"], "title": "fails", "status": "failed", "duration": 3.0,
                 "failureMessages": ["Error: expected 4 to be 5\n    at Object.<anonymous> (/p/a.test.js:16:51)"]},
                {"ancestorTitles": [], "title": "todo", "status": "todo", "failureMessages": []}
            ]},
            {"name": "/p/b.test.js", "status": "failed", "message": "SyntaxError: Unexpected token", "assertionResults": []}
        ]});
        let ts = parse_report(&doc, Path::new("/p"));
        assert_eq!(ts.len(), 3);
        assert_eq!(ts[0].name, "add > fails");
        assert_eq!(ts[0].message.as_deref(), Some("Error: expected 4 to be 5"));
        assert_eq!(
            (ts[0].file.as_deref(), ts[0].line),
            (Some("a.test.js"), Some(16))
        );
        assert_eq!(ts[1].status, "skipped");
        assert_eq!(
            (ts[2].name.as_str(), ts[2].status.as_str()),
            ("(file)", "errored")
        );
    }
}
