//! Secret redaction for text that a bundle stores or shows: private keys, cloud access keys,
//! common API token formats, bearer tokens and `password = "..."` assignments.
//!
//! It replaces each secret with `[REDACTED:<kind>]` and counts what it replaced; it never
//! reports the secret itself. It does not decide which texts to scan: the caller does.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use regex::{Captures, Regex};
use serde::{Deserialize, Serialize};

/// What one save redacted: a kind of secret, how many, and where (`notes`, `item 3`...).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Redaction {
    /// The kind of secret, e.g. `aws_access_key_id`, `private_key`, `password`.
    pub kind: String,
    /// How many were replaced.
    pub count: usize,
    /// Where they were: `description`, `notes`, `item N`, `item N note`.
    pub places: Vec<String>,
}

/// A pattern and the capture group that holds the secret (0 = the whole match).
struct Rule {
    kind: &'static str,
    re: Regex,
    group: usize,
}

const MARKER: &str = "[REDACTED:";

fn rules() -> &'static [Rule] {
    static RULES: OnceLock<Vec<Rule>> = OnceLock::new();
    RULES.get_or_init(|| {
        // Order matters: specific formats first, so that `sk-ant-...` is named anthropic and
        // a token inside `password = "..."` is named by its format.
        let table: &[(&str, &str, usize)] = &[
            (
                "private_key",
                r"-----BEGIN[A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----[\s\S]*?(?:-----END[A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----|\z)",
                0,
            ),
            (
                "aws_access_key_id",
                r"\b(?:AKIA|ASIA|ABIA|ACCA|AGPA|AIDA|AROA|ANPA|ANVA|AIPA)[0-9A-Z]{16}\b",
                0,
            ),
            (
                "aws_secret_access_key",
                r#"(?i)aws.{0,20}?(?:secret|private).{0,20}?['"]?\s*[:=]>?\s*['"]?([A-Za-z0-9/+]{40})\b"#,
                1,
            ),
            (
                "github_token",
                r"\b(?:gh[pousr]_[A-Za-z0-9]{36,255}|github_pat_[A-Za-z0-9_]{22,255})\b",
                0,
            ),
            ("gitlab_token", r"\bglpat-[A-Za-z0-9_\-]{20,}", 0),
            (
                "slack_token",
                r"\bxox[abposr]-[A-Za-z0-9\-]{10,}|https://hooks\.slack\.com/services/[A-Za-z0-9/_\-]{20,}",
                0,
            ),
            ("anthropic_api_key", r"\bsk-ant-[A-Za-z0-9_\-]{20,}", 0),
            (
                "openai_api_key",
                r"\bsk-(?:proj-|svcacct-|admin-|None-)?[A-Za-z0-9_\-]{20,}",
                0,
            ),
            ("google_api_key", r"\bAIza[0-9A-Za-z_\-]{35}", 0),
            (
                "bearer_token",
                r"(?i)\bbearer\s+([A-Za-z0-9\-._~+/]{16,}=*)",
                1,
            ),
            (
                "password",
                r#"(?i)(?:password|passwd|pwd|secret)[a-z0-9_]{0,30}["']?[ \t]{0,8}(?::=|=>|=|:)[ \t]{0,8}(?:"([^"\n]{3,})"|'([^'\n]{3,})')"#,
                1,
            ),
        ];
        table
            .iter()
            .filter_map(|(kind, pattern, group)| {
                // The patterns are constants checked by the tests below; a bad one is skipped
                // rather than panicking at runtime.
                Regex::new(pattern).ok().map(|re| Rule {
                    kind,
                    re,
                    group: *group,
                })
            })
            .collect()
    })
}

/// Counts of redacted secrets by kind and place, built up over one save.
#[derive(Debug, Default)]
pub struct RedactionLog {
    by_kind: BTreeMap<String, (usize, Vec<String>)>,
}

impl RedactionLog {
    pub fn new() -> Self {
        Self::default()
    }

    /// Redact `text`, recording what was replaced under `place`.
    pub fn redact(&mut self, text: &str, place: &str) -> String {
        let (out, found) = redact_text(text);
        for (kind, count) in found {
            let entry = self.by_kind.entry(kind.to_string()).or_default();
            entry.0 += count;
            if !entry.1.iter().any(|p| p == place) {
                entry.1.push(place.to_string());
            }
        }
        out
    }

    /// The report: one entry per kind of secret, in name order.
    pub fn into_report(self) -> Vec<Redaction> {
        self.by_kind
            .into_iter()
            .map(|(kind, (count, places))| Redaction {
                kind,
                count,
                places,
            })
            .collect()
    }
}

/// Redact every secret in `text`; returns the new text and `(kind, count)` for each kind
/// found.
pub fn redact_text(text: &str) -> (String, Vec<(&'static str, usize)>) {
    let mut current = text.to_string();
    let mut found = Vec::new();
    for rule in rules() {
        if !rule.re.is_match(&current) {
            continue;
        }
        let mut count = 0usize;
        let replaced = rule
            .re
            .replace_all(&current, |caps: &Captures<'_>| {
                let whole = caps.get(0).map(|m| m.as_str()).unwrap_or_default();
                // The secret is the chosen group, or for `password` whichever quote matched.
                let secret = caps.get(rule.group).or_else(|| {
                    if rule.group > 0 {
                        caps.get(rule.group + 1)
                    } else {
                        None
                    }
                });
                let Some(secret) = secret else {
                    return whole.to_string();
                };
                if secret.as_str().contains(MARKER) {
                    // Already replaced by a more specific rule.
                    return whole.to_string();
                }
                count += 1;
                let start = secret.start() - caps.get(0).map(|m| m.start()).unwrap_or(0);
                let end = start + secret.len();
                format!(
                    "{}{}{}]{}",
                    &whole[..start],
                    MARKER,
                    rule.kind,
                    &whole[end..]
                )
            })
            .into_owned();
        if count > 0 {
            found.push((rule.kind, count));
            current = replaced;
        }
    }
    (current, found)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Secrets are assembled at run time so that this file does not itself look like a leak.
    fn fake(prefix: &str, body_char: char, len: usize) -> String {
        format!("{prefix}{}", body_char.to_string().repeat(len))
    }

    #[test]
    fn every_rule_compiles() {
        assert_eq!(rules().len(), 11);
    }

    #[test]
    fn each_format_is_named_and_hidden() {
        let cases = [
            (
                format!(
                    "-----BEGIN RSA PRIVATE KEY-----\nMIIEow{}\n-----END RSA PRIVATE KEY-----",
                    "x".repeat(40)
                ),
                "private_key",
                "MIIEow",
            ),
            (
                format!("key = {}", fake("AKIA", 'Q', 16)),
                "aws_access_key_id",
                "AKIAQQQQ",
            ),
            (
                format!("aws_secret_access_key = {}", fake("wJalr", 'K', 35)),
                "aws_secret_access_key",
                "wJalrKKK",
            ),
            (
                format!("token: {}", fake("ghp_", 'a', 36)),
                "github_token",
                "ghp_aaa",
            ),
            (fake("glpat-", 'b', 20), "gitlab_token", "glpat-bbb"),
            (fake("xoxb-1234-", 'c', 20), "slack_token", "xoxb-1234"),
            (
                fake("sk-ant-api03-", 'd', 40),
                "anthropic_api_key",
                "sk-ant-api03-ddd",
            ),
            (fake("sk-proj-", 'e', 40), "openai_api_key", "sk-proj-eee"),
            (fake("AIza", 'f', 35), "google_api_key", "AIzafff"),
            (
                format!("Authorization: Bearer {}", fake("eyJ", 'g', 30)),
                "bearer_token",
                "eyJggg",
            ),
            (
                r#"db_password = "hunter2hunter2""#.to_string(),
                "password",
                "hunter2",
            ),
            (
                "PASSWORD: 'correct horse'".to_string(),
                "password",
                "correct horse",
            ),
        ];
        for (text, kind, secret_part) in cases {
            let (out, found) = redact_text(&text);
            assert_eq!(found, vec![(kind, 1)], "{text} -> {out}");
            assert!(!out.contains(secret_part), "{kind}: {out}");
            assert!(out.contains(&format!("[REDACTED:{kind}]")), "{out}");
        }
    }

    #[test]
    fn a_token_in_a_password_assignment_is_counted_once() {
        let text = format!("password = \"{}\"", fake("sk-ant-", 'z', 30));
        let (out, found) = redact_text(&text);
        assert_eq!(found, vec![("anthropic_api_key", 1)]);
        assert_eq!(out, "password = \"[REDACTED:anthropic_api_key]\"");
    }

    #[test]
    fn ordinary_code_is_left_alone() {
        let text = "fn password_ok(p: &str) -> bool { p.len() > 8 }\nlet skip = \"sk-short\";\nlet key = config.password;";
        let (out, found) = redact_text(text);
        assert!(found.is_empty(), "{found:?}");
        assert_eq!(out, text);
    }

    #[test]
    fn the_log_counts_by_kind_and_place() {
        let mut log = RedactionLog::new();
        let k = fake("AKIA", 'Z', 16);
        log.redact(&format!("{k} and {k}"), "notes");
        log.redact(&k, "item 2");
        log.redact("nothing here", "item 3");
        let report = log.into_report();
        assert_eq!(
            report,
            vec![Redaction {
                kind: "aws_access_key_id".into(),
                count: 3,
                places: vec!["notes".into(), "item 2".into()],
            }]
        );
    }
}
