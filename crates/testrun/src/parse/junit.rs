//! JUnit XML, as many runners write it (`<testsuite><testcase>` with `<failure>`, `<error>`,
//! `<skipped>`, `<system-out>`): read once the runner has ended. A small tolerant reader,
//! not a general XML parser.

use std::path::PathBuf;
use std::sync::LazyLock;

use regex::Regex;

use super::{OutputParser, Parsed, Stream, test};
use apex_store::testruns::TestResult;

static CASE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?s)<testcase\b([^>]*?)(?:/>|>(.*?)</testcase>)").expect("static regex")
});
static ATTR: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r#"([A-Za-z_][\w:.-]*)\s*=\s*(?:"([^"]*)"|'([^']*)')"#).expect("static regex")
});
static CHILD: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?s)<(failure|error|skipped|system-out|system-err)\b([^>]*?)(?:/>|>(.*?)</(?:failure|error|skipped|system-out|system-err)>)")
        .expect("static regex")
});

fn attrs(s: &str) -> Vec<(String, String)> {
    ATTR.captures_iter(s)
        .map(|c| {
            let v = c.get(2).or(c.get(3)).map(|m| m.as_str()).unwrap_or("");
            (c[1].to_string(), unescape(v))
        })
        .collect()
}

fn get<'a>(a: &'a [(String, String)], k: &str) -> Option<&'a str> {
    a.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str())
}

/// Decode XML entities and CDATA sections.
pub fn unescape(s: &str) -> String {
    let s = s.replace("<![CDATA[", "").replace("]]>", "");
    let mut out = String::with_capacity(s.len());
    let mut rest = s.as_str();
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        let after = &rest[i..];
        let Some(end) = after.find(';').filter(|e| *e <= 10) else {
            out.push('&');
            rest = &after[1..];
            continue;
        };
        let ent = &after[1..end];
        let ch = match ent {
            "lt" => Some('<'),
            "gt" => Some('>'),
            "amp" => Some('&'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            _ => ent
                .strip_prefix("#x")
                .and_then(|h| u32::from_str_radix(h, 16).ok())
                .or_else(|| ent.strip_prefix('#').and_then(|d| d.parse().ok()))
                .and_then(char::from_u32),
        };
        match ch {
            Some(c) => {
                out.push(c);
                rest = &after[end + 1..];
            }
            None => {
                out.push('&');
                rest = &after[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// Every test case of a JUnit document.
pub fn parse_junit(xml: &str) -> Vec<TestResult> {
    CASE.captures_iter(xml)
        .map(|c| {
            let a = attrs(&c[1]);
            let body = c.get(2).map(|m| m.as_str()).unwrap_or("");
            let mut t = test(
                get(&a, "classname").unwrap_or(""),
                get(&a, "name").unwrap_or("(unnamed)"),
                "passed",
            );
            t.duration_ms = get(&a, "time")
                .and_then(|s| s.parse::<f64>().ok())
                .map(|s| s * 1000.0);
            t.file = get(&a, "file").map(str::to_string);
            t.line = get(&a, "line").and_then(|l| l.parse().ok());
            let mut output = String::new();
            for ch in CHILD.captures_iter(body) {
                let ca = attrs(ch.get(2).map(|m| m.as_str()).unwrap_or(""));
                let text = unescape(ch.get(3).map(|m| m.as_str()).unwrap_or(""));
                match &ch[1] {
                    kind @ ("failure" | "error" | "skipped") => {
                        t.status = match kind {
                            "failure" => "failed",
                            "error" => "errored",
                            _ => "skipped",
                        }
                        .into();
                        t.message = get(&ca, "message").map(str::to_string).or_else(|| {
                            text.lines()
                                .find(|l| !l.trim().is_empty())
                                .map(str::to_string)
                        });
                        if !text.trim().is_empty() {
                            output.push_str(&text);
                            output.push('\n');
                        }
                    }
                    _ => {
                        if !text.trim().is_empty() {
                            output.push_str(&text);
                            output.push('\n');
                        }
                    }
                }
            }
            if t.status != "passed" && !output.is_empty() {
                t.output = Some(output);
            }
            t
        })
        .collect()
}

/// A JUnit file a suite writes, read when it ends.
pub struct JunitFile(pub PathBuf);

impl OutputParser for JunitFile {
    fn line(&mut self, _: Stream, _: &str, _: &mut Vec<Parsed>) {}

    fn finish(&mut self, out: &mut Vec<Parsed>) {
        if let Ok(xml) = std::fs::read_to_string(&self.0) {
            out.extend(parse_junit(&xml).into_iter().map(Parsed::Test));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_cases_failures_skips_and_entities() {
        let xml = r#"<?xml version="1.0"?>
<testsuites><testsuite name="s" tests="4">
  <testcase classname="tests.t" name="test_ok" time="0.010" file="tests/t.py" line="3"/>
  <testcase classname="tests.t" name="test_bad" time="0.5">
    <failure message="AssertionError: 4 &lt; 5 &amp; more">trace &quot;here&quot;</failure>
    <system-out><![CDATA[printed <stuff>]]></system-out>
  </testcase>
  <testcase classname="tests.t" name="test_skip"><skipped message="needs a network"/></testcase>
  <testcase classname="tests.t" name="test_err"><error message="boom"/></testcase>
</testsuite></testsuites>"#;
        let ts = parse_junit(xml);
        let s: Vec<_> = ts
            .iter()
            .map(|t| (t.name.as_str(), t.status.as_str()))
            .collect();
        assert_eq!(
            s,
            vec![
                ("test_ok", "passed"),
                ("test_bad", "failed"),
                ("test_skip", "skipped"),
                ("test_err", "errored")
            ]
        );
        assert_eq!(
            (ts[0].file.as_deref(), ts[0].line),
            (Some("tests/t.py"), Some(3))
        );
        assert_eq!(
            ts[1].message.as_deref(),
            Some("AssertionError: 4 < 5 & more")
        );
        assert_eq!(
            ts[1].output.as_deref(),
            Some("trace \"here\"\nprinted <stuff>\n")
        );
        assert_eq!(ts[1].duration_ms, Some(500.0));
        assert_eq!(ts[2].message.as_deref(), Some("needs a network"));
        assert_eq!(unescape("a &#65;&#x42; &bogus c"), "a AB &bogus c");
    }
}
