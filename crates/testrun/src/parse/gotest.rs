//! `go test -json`: one JSON event per line; a test's result arrives with its `pass`,
//! `fail` or `skip` action, its output with the `output` actions before it.

use std::collections::HashMap;
use std::path::PathBuf;

use serde::Deserialize;

use super::{OutputParser, Parsed, Stream, split_location, test};
use apex_store::testruns::TestResult;

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Event {
    action: String,
    #[serde(default)]
    package: String,
    #[serde(default)]
    test: Option<String>,
    #[serde(default)]
    elapsed: Option<f64>,
    #[serde(default)]
    output: Option<String>,
}

const MAX_OUTPUT: usize = 64 * 1024;

pub struct GoJson {
    dir: PathBuf,
    output: HashMap<(String, String), String>,
    /// Packages with a failing test (a package failure then needs no entry of its own).
    failed_packages: HashMap<String, bool>,
    /// Tests started and not finished, per package.
    running: HashMap<String, Vec<String>>,
}

impl GoJson {
    pub fn new(dir: PathBuf) -> Self {
        Self {
            dir,
            output: HashMap::new(),
            failed_packages: HashMap::new(),
            running: HashMap::new(),
        }
    }

    fn relative(&self, file: &str) -> String {
        std::path::Path::new(file)
            .strip_prefix(&self.dir)
            .map(|p| p.display().to_string())
            .unwrap_or_else(|_| file.to_string())
    }

    fn details(&self, t: &mut TestResult, output: &str, test_name: &str) {
        let lines: Vec<&str> = output.lines().collect();
        if let Some(p) = lines.iter().find(|l| l.starts_with("panic: ")) {
            t.message = Some(p.trim_end_matches(" [recovered]").to_string());
            // The frame of the test function is followed by its file:line.
            let func = format!(".{test_name}(");
            if let Some(i) = lines.iter().position(|l| l.contains(&func))
                && let Some(next) = lines.get(i + 1)
            {
                let loc = next.trim().split(' ').next().unwrap_or("");
                if let Some((f, l)) = split_location(loc) {
                    t.file = Some(self.relative(&f));
                    t.line = Some(l);
                }
            }
            return;
        }
        // `    file_test.go:24: message` lines of t.Error/t.Fatal/t.Log; the last one wins.
        let logged = lines.iter().rev().find_map(|l| {
            let trimmed = l.trim_start();
            let (loc, msg) = trimmed.split_once(": ")?;
            let (f, line) = split_location(loc)?;
            f.ends_with(".go").then(|| (f, line, msg.to_string()))
        });
        if let Some((f, line, msg)) = logged {
            t.message = Some(msg);
            t.file = Some(f);
            t.line = Some(line);
        }
    }
}

impl OutputParser for GoJson {
    fn line(&mut self, stream: Stream, line: &str, out: &mut Vec<Parsed>) {
        if stream != Stream::Stdout || !line.starts_with('{') {
            return;
        }
        let Ok(ev) = serde_json::from_str::<Event>(line) else {
            return;
        };
        let key = (ev.package.clone(), ev.test.clone().unwrap_or_default());
        match ev.action.as_str() {
            "run" => {
                if let Some(name) = &ev.test {
                    self.running
                        .entry(ev.package.clone())
                        .or_default()
                        .push(name.clone());
                }
            }
            "output" => {
                let buf = self.output.entry(key).or_default();
                if buf.len() < MAX_OUTPUT {
                    buf.push_str(ev.output.as_deref().unwrap_or(""));
                }
            }
            "pass" | "fail" | "skip" => {
                let output = self.output.remove(&key).unwrap_or_default();
                let status = match ev.action.as_str() {
                    "pass" => "passed",
                    "fail" => "failed",
                    _ => "skipped",
                };
                match &ev.test {
                    Some(name) => {
                        if let Some(r) = self.running.get_mut(&ev.package) {
                            r.retain(|n| n != name);
                        }
                        let mut t = test(&ev.package, name, status);
                        t.duration_ms = ev.elapsed.map(|e| e * 1000.0);
                        if status != "passed" {
                            self.details(&mut t, &output, name);
                            if status == "failed" {
                                self.failed_packages.insert(ev.package.clone(), true);
                                t.output = Some(output);
                            }
                        }
                        out.push(Parsed::Test(t));
                    }
                    None if status == "failed" => {
                        // Tests cut off by the package's failure (a panic, a timeout).
                        for name in self.running.remove(&ev.package).unwrap_or_default() {
                            let mut t = test(&ev.package, &name, "errored");
                            t.message = Some("did not finish: the test binary failed".into());
                            out.push(Parsed::Test(t));
                        }
                        if !self.failed_packages.contains_key(&ev.package) {
                            let mut t = test(&ev.package, "(package)", "errored");
                            t.message = output
                                .lines()
                                .find(|l| !l.trim().is_empty() && !l.starts_with("FAIL"))
                                .or_else(|| output.lines().next())
                                .map(str::to_string);
                            t.output = Some(output);
                            out.push(Parsed::Test(t));
                        }
                    }
                    None => {}
                }
            }
            _ => {}
        }
    }

    fn finish(&mut self, _out: &mut Vec<Parsed>) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_json_events() {
        let lines = [
            r#"{"Action":"run","Package":"ex/p","Test":"TestA"}"#,
            r#"{"Action":"output","Package":"ex/p","Test":"TestA","Output":"    a_test.go:22: about to compare\n"}"#,
            r#"{"Action":"output","Package":"ex/p","Test":"TestA","Output":"    a_test.go:24: two plus two is not five: got 4\n"}"#,
            r#"{"Action":"fail","Package":"ex/p","Test":"TestA","Elapsed":0.01}"#,
            r#"{"Action":"run","Package":"ex/p","Test":"TestP"}"#,
            r#"{"Action":"output","Package":"ex/p","Test":"TestP","Output":"panic: boom [recovered]\n"}"#,
            r#"{"Action":"output","Package":"ex/p","Test":"TestP","Output":"ex/p.TestP(0xc000096b60?)\n"}"#,
            r#"{"Action":"output","Package":"ex/p","Test":"TestP","Output":"\t/src/p/a_test.go:33 +0x27\n"}"#,
            r#"{"Action":"fail","Package":"ex/p","Test":"TestP","Elapsed":0}"#,
            r#"{"Action":"skip","Package":"ex/p","Test":"TestS","Elapsed":0}"#,
            r#"{"Action":"fail","Package":"ex/p","Elapsed":0.5}"#,
            r#"{"Action":"output","Package":"ex/q","Output":"FAIL\tex/q [build failed]\n"}"#,
            r#"{"Action":"fail","Package":"ex/q","Elapsed":0}"#,
        ];
        let mut p = GoJson::new(PathBuf::from("/src/p"));
        let mut out = Vec::new();
        for l in lines {
            p.line(Stream::Stdout, l, &mut out);
        }
        let ts: Vec<&TestResult> = out
            .iter()
            .map(|p| match p {
                Parsed::Test(t) => t,
                _ => panic!(),
            })
            .collect();
        assert_eq!(ts.len(), 4);
        assert_eq!(
            ts[0].message.as_deref(),
            Some("two plus two is not five: got 4")
        );
        assert_eq!(
            (ts[0].file.as_deref(), ts[0].line),
            (Some("a_test.go"), Some(24))
        );
        assert_eq!(ts[0].duration_ms, Some(10.0));
        assert_eq!(ts[1].message.as_deref(), Some("panic: boom"));
        assert_eq!(
            (ts[1].file.as_deref(), ts[1].line),
            (Some("a_test.go"), Some(33))
        );
        assert_eq!(ts[2].status, "skipped");
        assert_eq!(
            (ts[3].name.as_str(), ts[3].status.as_str()),
            ("(package)", "errored")
        );
        assert_eq!(ts[3].group, "ex/q");
    }
}
