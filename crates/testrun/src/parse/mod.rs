//! Parsers of runner output: each turns the lines of one runner (and its report file, if
//! it writes one) into test results as they happen. They are pure: lines in, results out;
//! they never start processes or touch the store.

pub mod gotest;
pub mod js;
pub mod junit;
pub mod libtest;
pub mod pytest;

use std::path::PathBuf;

use super::detect::{Format, Plan};
use apex_store::testruns::TestResult;

/// Which pipe a line came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
}

/// What a parser found.
#[derive(Debug, Clone, PartialEq)]
pub enum Parsed {
    /// How many tests the run will report, when the runner says so up front.
    Count(u64),
    /// One finished test (a second report of the same group and name refines the first).
    Test(TestResult),
}

/// A runner's output reader.
pub trait OutputParser: Send {
    fn line(&mut self, stream: Stream, line: &str, out: &mut Vec<Parsed>);
    /// The runner has ended: report what is still pending, read report files.
    fn finish(&mut self, out: &mut Vec<Parsed>);
}

/// The parser for a plan's format. `report_file` is where the runner was told to write
/// its report, if anywhere.
pub fn parser_for(plan: &Plan, report_file: Option<PathBuf>) -> Box<dyn OutputParser> {
    match &plan.format {
        Format::Libtest => Box::new(libtest::Libtest::default()),
        Format::Nextest => Box::new(libtest::Nextest::new(plan.filter.clone())),
        Format::Pytest => Box::new(pytest::PytestPlugin),
        Format::GoJson => Box::new(gotest::GoJson::new(plan.dir.clone())),
        Format::JsJson => Box::new(js::JsReport::from_file(plan.dir.clone(), report_file)),
        Format::JsJsonStdout => Box::new(js::JsReport::from_stdout(plan.dir.clone())),
        Format::Junit(file) => Box::new(junit::JunitFile(plan.dir.join(file))),
        Format::Plain => Box::new(Plain),
    }
}

/// Only the exit code matters.
struct Plain;

impl OutputParser for Plain {
    fn line(&mut self, _: Stream, _: &str, _: &mut Vec<Parsed>) {}
    fn finish(&mut self, _: &mut Vec<Parsed>) {}
}

/// Split `path:line[:col]` into its file and line.
pub(crate) fn split_location(loc: &str) -> Option<(String, u32)> {
    let mut parts = loc.rsplitn(3, ':');
    let last = parts.next()?;
    let mid = parts.next()?;
    match parts.next() {
        Some(file) if mid.parse::<u32>().is_ok() && last.parse::<u32>().is_ok() => {
            Some((file.to_string(), mid.parse().ok()?))
        }
        _ => {
            let line = last.parse::<u32>().ok()?;
            let file = loc[..loc.len() - last.len() - 1].to_string();
            (!file.is_empty()).then_some((file, line))
        }
    }
}

pub(crate) fn test(group: &str, name: &str, status: &str) -> TestResult {
    TestResult {
        name: name.to_string(),
        group: group.to_string(),
        status: status.to_string(),
        ..Default::default()
    }
}

/// Remove ANSI escape sequences (colours, cursor moves) from a line.
pub fn strip_ansi(s: &str) -> String {
    if !s.contains('\u{1b}') {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\u{1b}' {
            out.push(c);
            continue;
        }
        match chars.peek() {
            Some('[') => {
                chars.next();
                for d in chars.by_ref() {
                    if ('@'..='~').contains(&d) {
                        break;
                    }
                }
            }
            Some(']') => {
                chars.next();
                while let Some(d) = chars.next() {
                    if d == '\u{7}' || (d == '\u{1b}' && chars.peek() == Some(&'\\')) {
                        chars.next();
                        break;
                    }
                }
            }
            _ => {
                chars.next();
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_split_with_or_without_column() {
        assert_eq!(
            split_location("src/lib.rs:24:9"),
            Some(("src/lib.rs".into(), 24))
        );
        assert_eq!(
            split_location("a_test.go:12"),
            Some(("a_test.go".into(), 12))
        );
        assert_eq!(split_location("nowhere"), None);
    }
}
