//! pytest through Netra Apex's plugin (`resources/testrun/apex_pytest_plugin.py`): one JSON
//! line per result on stderr, marked with an RS character, as each test finishes.

use serde::Deserialize;

use super::{OutputParser, Parsed, Stream, test};

const MARK: &str = "\u{1e}APEX ";

#[derive(Deserialize)]
struct Line {
    kind: String,
    #[serde(default)]
    count: Option<u64>,
    #[serde(default)]
    name: String,
    #[serde(default)]
    status: String,
    #[serde(default)]
    duration: Option<f64>,
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    output: Option<String>,
    #[serde(default)]
    file: Option<String>,
    #[serde(default)]
    line: Option<u32>,
}

/// Reads the plugin's lines; everything else is console output.
pub struct PytestPlugin;

impl OutputParser for PytestPlugin {
    fn line(&mut self, _stream: Stream, line: &str, out: &mut Vec<Parsed>) {
        let Some(json) = line.strip_prefix(MARK) else {
            return;
        };
        let Ok(l) = serde_json::from_str::<Line>(json) else {
            return;
        };
        match l.kind.as_str() {
            "collected" => {
                if let Some(n) = l.count {
                    out.push(Parsed::Count(n));
                }
            }
            "test" => {
                let mut t = test("", &l.name, &l.status);
                t.duration_ms = l.duration.map(|d| d * 1000.0);
                t.message = l.message.filter(|m| !m.is_empty());
                t.output = l.output.filter(|o| !o.is_empty());
                t.file = l.file;
                t.line = l.line;
                out.push(Parsed::Test(t));
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
    fn reads_plugin_lines_and_ignores_the_rest() {
        let mut out = Vec::new();
        let mut p = PytestPlugin;
        for l in [
            "collected 7 items / 1 deselected / 6 selected",
            "\u{1e}APEX {\"kind\": \"collected\", \"count\": 6}",
            "\u{1e}APEX {\"kind\": \"test\", \"name\": \"tests/t.py::test_a\", \"status\": \"failed\", \"phase\": \"call\", \"duration\": 0.5, \"message\": \"AssertionError: no\", \"output\": \"E  no\", \"file\": \"tests/t.py\", \"line\": 20}",
            "\u{1e}APEX {broken",
        ] {
            p.line(Stream::Stderr, l, &mut out);
        }
        assert_eq!(out.len(), 2);
        assert_eq!(out[0], Parsed::Count(6));
        let Parsed::Test(t) = &out[1] else { panic!() };
        assert_eq!(t.name, "tests/t.py::test_a");
        assert_eq!(t.duration_ms, Some(500.0));
        assert_eq!(t.message.as_deref(), Some("AssertionError: no"));
        assert_eq!((t.file.as_deref(), t.line), (Some("tests/t.py"), Some(20)));
    }
}
