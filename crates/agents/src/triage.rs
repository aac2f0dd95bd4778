//! The triage agent: which kind of request this is (by keyword rules, or by the narrator
//! for free-form requests the rules cannot place) and whether the dataset suffices for the
//! full pipeline, for part of it, or not at all — and then which data to collect.
//!
//! It reads only the dataset's registration (record count), never its records.

use serde::Serialize;

use super::narrator::{ClassifyPrompt, Narrator, parse_category};

/// The request categories, in tie-breaking order.
pub const CATEGORIES: &[&str] = &[
    "cost_optimization",
    "performance",
    "model_selection",
    "workload_analysis",
    "synthetic_data",
    "general",
];

/// With fewer model calls than this, the data suffices for the analysis only.
pub const ENOUGH_RECORDS: u64 = 100;

const KEYWORDS: &[(&str, &[&str])] = &[
    (
        "cost_optimization",
        &[
            "cost",
            "spend",
            "bill",
            "saving",
            "save",
            "cheap",
            "budget",
            "reduce",
            "expensive",
            "price",
            "pricing",
            "money",
            "dollar",
            "$",
            "optimi",
            "waste",
        ],
    ),
    (
        "performance",
        &[
            "latency",
            "slow",
            "fast",
            "speed",
            "throughput",
            "p95",
            "p99",
            "timeout",
            "ttft",
            "performance",
            "response time",
            "error rate",
            "reliab",
        ],
    ),
    (
        "model_selection",
        &[
            "which model",
            "model selection",
            "choose",
            "switch",
            "compare",
            "alternative",
            "right-size",
            "rightsize",
            "right size",
            "downgrade",
            "upgrade",
            "smaller model",
            "cheaper model",
            "best model",
        ],
    ),
    (
        "workload_analysis",
        &[
            "analy",
            "usage",
            "pattern",
            "breakdown",
            "trend",
            "tenant",
            "feature",
            "describe",
            "distribution",
            "who uses",
            "anomal",
            "spike",
            "duplicate",
        ],
    ),
    (
        "synthetic_data",
        &[
            "synthetic",
            "generate data",
            "simulate",
            "fake",
            "test data",
            "sample data",
            "generate logs",
            "mock data",
        ],
    ),
];

/// How much of the pipeline the data supports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Sufficiency {
    /// Enough model calls for priced recommendations.
    Enough,
    /// Some data: an analysis, but too little to recommend changes.
    Partial,
    /// No dataset, or an empty one: nothing to analyse.
    None,
}

/// The triage agent's result.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Triage {
    pub category: String,
    /// `rules` (keyword matches) or the narrator's name.
    pub classified_by: String,
    pub matched_keywords: Vec<String>,
    pub data: Sufficiency,
    pub records: u64,
    pub reasons: Vec<String>,
    /// What to collect when the data does not suffice.
    pub data_to_collect: Vec<String>,
}

/// The prompt that asks an LLM to classify a request.
pub fn classify_prompt(request: &str) -> ClassifyPrompt {
    ClassifyPrompt {
        system: "You classify requests about an organization's LLM usage. Answer with exactly one category name from the list and nothing else.".into(),
        user: format!(
            "Categories: {}.\nRequest: {}\nCategory:",
            CATEGORIES.join(", "),
            request.trim()
        ),
        categories: CATEGORIES.iter().map(|s| s.to_string()).collect(),
        max_tokens: 16,
    }
}

/// Classify by keyword rules: (category, matched keywords); `general` when none match.
pub fn classify_by_rules(request: &str) -> (String, Vec<String>) {
    let lower = request.to_lowercase();
    let mut best: Option<(&str, Vec<String>)> = None;
    for (cat, words) in KEYWORDS {
        let hits: Vec<String> = words
            .iter()
            .filter(|w| lower.contains(**w))
            .map(|w| w.to_string())
            .collect();
        if !hits.is_empty() && best.as_ref().is_none_or(|b| hits.len() > b.1.len()) {
            best = Some((cat, hits));
        }
    }
    match best {
        Some((c, hits)) => (c.to_string(), hits),
        None => ("general".into(), Vec::new()),
    }
}

/// What to collect for a useful analysis.
pub fn data_to_collect() -> Vec<String> {
    vec![
        "one record per model call: timestamp, provider, model, input_tokens, output_tokens, latency_ms, status (JSONL, CSV or OTLP-JSON gen_ai spans; load with ingest_logs)".into(),
        "for attribution: feature, tenant and workload_type on each call".into(),
        "for caching and retry analysis: prompt_hash, cache_read_tokens, error_type".into(),
        "cost_usd if your contract prices differ from list prices (otherwise the price catalog fills it)".into(),
        format!("at least {ENOUGH_RECORDS} calls and 7 days for priced recommendations and anomaly detection; generate_synthetic_data can produce a realistic sample to try the pipeline"),
    ]
}

/// Run triage. `records` is the dataset's record count, or `None` without a dataset.
pub fn triage(request: &str, records: Option<u64>, narrator: &dyn Narrator) -> Triage {
    let (mut category, matched) = classify_by_rules(request);
    let mut classified_by = "rules".to_string();
    if matched.is_empty() && !request.trim().is_empty() {
        let prompt = classify_prompt(request);
        if let Some(answer) = narrator.classify(&prompt)
            && let Some(c) = parse_category(&answer.text, &prompt.categories)
        {
            category = c;
            classified_by = answer.model;
        }
    }
    let mut reasons = Vec::new();
    let data = match records {
        None => {
            reasons.push("no dataset was given".to_string());
            Sufficiency::None
        }
        Some(0) => {
            reasons.push("the dataset holds no records: there is nothing to analyse".to_string());
            Sufficiency::None
        }
        Some(n) if n < ENOUGH_RECORDS => {
            reasons.push(format!(
                "{n} records: enough to describe the workload, too few (< {ENOUGH_RECORDS}) to price changes"
            ));
            Sufficiency::Partial
        }
        Some(n) => {
            reasons.push(format!("{n} records: enough for the full analysis"));
            Sufficiency::Enough
        }
    };
    let data_to_collect = if data == Sufficiency::Enough {
        Vec::new()
    } else {
        data_to_collect()
    };
    Triage {
        category,
        classified_by,
        matched_keywords: matched,
        data,
        records: records.unwrap_or(0),
        reasons,
        data_to_collect,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::narrator::{DeterministicNarrator, Narration, PreparedNarrator};

    #[test]
    fn rules_classify_typical_requests() {
        let cases = [
            ("How can we cut our LLM spend?", "cost_optimization"),
            ("Our p95 latency is too slow", "performance"),
            (
                "Which model should we choose for support?",
                "model_selection",
            ),
            ("Show usage patterns per tenant", "workload_analysis"),
            ("Generate synthetic data for testing", "synthetic_data"),
            ("hello there", "general"),
        ];
        for (req, want) in cases {
            assert_eq!(classify_by_rules(req).0, want, "{req}");
        }
    }

    #[test]
    fn sufficiency_follows_the_record_count() {
        let n = DeterministicNarrator;
        assert_eq!(triage("x", None, &n).data, Sufficiency::None);
        assert_eq!(triage("x", Some(0), &n).data, Sufficiency::None);
        assert_eq!(triage("x", Some(5), &n).data, Sufficiency::Partial);
        assert_eq!(triage("x", Some(500), &n).data, Sufficiency::Enough);
        assert!(!triage("x", Some(0), &n).data_to_collect.is_empty());
    }

    #[test]
    fn the_narrator_classifies_only_what_rules_cannot() {
        let llm = PreparedNarrator {
            classification: Some(Narration {
                text: "model_selection".into(),
                model: "claude-test".into(),
            }),
            summary: None,
        };
        let t = triage("what would you do here?", Some(500), &llm);
        assert_eq!(
            (t.category.as_str(), t.classified_by.as_str()),
            ("model_selection", "claude-test")
        );
        let t = triage("reduce cost", Some(500), &llm);
        assert_eq!(
            (t.category.as_str(), t.classified_by.as_str()),
            ("cost_optimization", "rules")
        );
    }
}
