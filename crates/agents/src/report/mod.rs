//! The reporting agent: the report's JSON ([`Report`]), its markdown — executive summary,
//! charts, cost breakdown, recommendations, action plan, the prices used, confidence, and the
//! SQL that reproduces each figure — and its HTML rendering with the charts inline
//! ([`html`]). The executive summary comes from the narrator when it answers with figures
//! taken from the analysis, otherwise from the deterministic text built here.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use pulldown_cmark::{CowStr, Event, Options, Parser, Tag, TagEnd};
use serde::Serialize;
use serde_json::Value;

use super::analysis::Dimension;
use super::analysis::{CostAnalysis, WorkloadStats};
use super::narrator::{self, DETERMINISTIC, Narrator, SummaryPrompt};
use super::optimize::Recommendation;
use super::plan::ActionPlan;
use super::triage::{Sufficiency, Triage};
use crate::charts::{ChartError, ChartKind, Charts};
use apex_core::pricing::{ModelPrice, PriceCatalog, PriceOrigin};

/// How far to trust a report.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Confidence {
    /// `high`, `medium` or `low`.
    pub level: String,
    /// 0 to 1: the mean of the factor scores.
    pub score: f64,
    pub factors: Vec<ConfidenceFactor>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ConfidenceFactor {
    pub name: String,
    pub score: f64,
    pub detail: String,
}

/// A report: what every agent run ends with (the fields its agents produced).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Report {
    pub title: String,
    pub agent: String,
    pub request: String,
    pub dataset: Option<String>,
    /// The stages that ran, in order.
    pub pipeline: Vec<String>,
    pub triage: Option<Triage>,
    /// `deterministic` or the model that wrote the executive summary.
    pub narrator: String,
    pub executive_summary: String,
    /// Why an LLM summary was not used, when one was offered.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub narrator_note: Option<String>,
    pub cost_analysis: Option<CostAnalysis>,
    pub recommendations: Vec<Recommendation>,
    pub action_plan: Option<ActionPlan>,
    pub confidence: Confidence,
    pub data_to_collect: Vec<String>,
    pub notes: Vec<String>,
    /// The catalog entries whose prices this report used, each with its source, the date it
    /// was checked and whether it was checked on the provider's page.
    pub prices: Vec<PriceUsed>,
}

/// A catalog entry a report priced with, and what it priced.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct PriceUsed {
    #[serde(flatten)]
    pub price: ModelPrice,
    /// The dataset's model names this entry priced, or `<recommendation> (projected)` for an
    /// entry only a recommendation priced (a right-sizing substitute).
    pub used_for: Vec<String>,
}

/// The catalog entries a report uses: those of the dataset's `models` (in the order given),
/// then those a recommendation priced that are not among them.
pub fn prices_used<'a>(
    models: impl IntoIterator<Item = &'a str>,
    recommendations: &[Recommendation],
    catalog: &PriceCatalog,
) -> Vec<PriceUsed> {
    fn add(used: &mut Vec<PriceUsed>, price: &ModelPrice, what: String) {
        match used.iter_mut().find(|u| u.price.model == price.model) {
            Some(u) => {
                if !u.used_for.contains(&what) {
                    u.used_for.push(what);
                }
            }
            None => used.push(PriceUsed {
                price: price.clone(),
                used_for: vec![what],
            }),
        }
    }
    let mut used: Vec<PriceUsed> = Vec::new();
    for m in models {
        if let Some(p) = catalog.get(m) {
            add(&mut used, p, m.to_string());
        }
    }
    let before: BTreeSet<String> = used.iter().map(|u| u.price.model.clone()).collect();
    for r in recommendations {
        let mut named = Vec::new();
        priced_models(&r.inputs, &mut named);
        for m in named {
            if let Some(p) = catalog.get(&m)
                && !before.contains(&p.model)
            {
                add(&mut used, p, format!("{} (projected)", r.kind));
            }
        }
    }
    used
}

/// The models of the catalog prices a recommendation's inputs quote (objects with a `model`
/// and its price's `source`).
fn priced_models(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(o) => {
            if let (Some(Value::String(m)), Some(Value::String(_))) =
                (o.get("model"), o.get("source"))
            {
                out.push(m.clone());
            }
            o.values().for_each(|x| priced_models(x, out));
        }
        Value::Array(a) => a.iter().for_each(|x| priced_models(x, out)),
        _ => {}
    }
}

/// The note a report carries when some of its prices were not checked on the provider's
/// page; `None` when all were.
pub fn unchecked_prices_note(prices: &[PriceUsed]) -> Option<String> {
    let unchecked: Vec<&str> = prices
        .iter()
        .filter(|p| !p.price.verified)
        .map(|p| p.price.model.as_str())
        .collect();
    (!unchecked.is_empty()).then(|| {
        format!(
            "{} of the {} prices this report uses were not checked against the provider's public page: {}. They are marked † under Prices used; confirm them at their source before budgeting.",
            unchecked.len(),
            prices.len(),
            unchecked.join(", ")
        )
    })
}

/// Judge how far the analysis can be trusted.
pub fn confidence(
    stats: Option<&WorkloadStats>,
    unpriced_share: f64,
    triage: Option<&Triage>,
) -> Confidence {
    let mut factors = Vec::new();
    match stats {
        None => factors.push(ConfidenceFactor {
            name: "data".into(),
            score: 0.0,
            detail: triage
                .map(|t| t.reasons.join("; "))
                .unwrap_or_else(|| "no data was analysed".into()),
        }),
        Some(s) => {
            let calls = s.total.calls;
            factors.push(ConfidenceFactor {
                name: "volume".into(),
                score: if calls >= 10_000 {
                    1.0
                } else if calls >= 1_000 {
                    0.7
                } else if calls >= 100 {
                    0.4
                } else {
                    0.1
                },
                detail: format!("{calls} model calls (10,000+ is high)"),
            });
            let days = s.days.len();
            factors.push(ConfidenceFactor {
                name: "time span".into(),
                score: if days >= 14 {
                    1.0
                } else if days >= 7 {
                    0.7
                } else if days >= 2 {
                    0.4
                } else {
                    0.2
                },
                detail: format!("{days} day(s) of data (14+ is high)"),
            });
            factors.push(ConfidenceFactor {
                name: "price coverage".into(),
                score: ((100.0 - unpriced_share) / 100.0).clamp(0.0, 1.0),
                detail: format!(
                    "{unpriced_share}% of spend is on models the catalog does not price"
                ),
            });
            let hashed = if s.ok_calls > 0 {
                s.ok_calls_with_hash as f64 / s.ok_calls as f64
            } else {
                0.0
            };
            factors.push(ConfidenceFactor {
                name: "prompt hashes".into(),
                score: (hashed * 100.0).round() / 100.0,
                detail: format!("{:.0}% of successful calls carry a prompt_hash (needed for duplicate detection)", hashed * 100.0),
            });
        }
    }
    let score = factors.iter().map(|f| f.score).sum::<f64>() / factors.len().max(1) as f64;
    let score = (score * 100.0).round() / 100.0;
    Confidence {
        level: if score >= 0.75 {
            "high"
        } else if score >= 0.45 {
            "medium"
        } else {
            "low"
        }
        .into(),
        score,
        factors,
    }
}

/// A USD amount as `$1,234.56` (negative as `-$1.00`).
pub fn money(x: f64) -> String {
    let cents = (x.abs() * 100.0).round() as u64;
    let whole = (cents / 100).to_string();
    let mut grouped = String::new();
    for (i, c) in whole.chars().enumerate() {
        if i > 0 && (whole.len() - i).is_multiple_of(3) {
            grouped.push(',');
        }
        grouped.push(c);
    }
    format!(
        "{}${grouped}.{:02}",
        if x < 0.0 { "-" } else { "" },
        cents % 100
    )
}

/// The facts a summary may state, and the deterministic summary made of them.
pub fn summary_prompt(
    request: &str,
    triage: Option<&Triage>,
    analysis: Option<&CostAnalysis>,
    recs: &[Recommendation],
    optimized: bool,
    plan: Option<&ActionPlan>,
) -> SummaryPrompt {
    let mut facts = Vec::new();
    let mut text = String::new();
    match analysis {
        None => {
            let why = triage.map(|t| t.reasons.join("; ")).unwrap_or_default();
            facts.push(format!("There is nothing to analyse: {why}."));
            text = format!(
                "There is nothing to analyse yet ({why}). Collect one record per model call with timestamp, provider, model, tokens, latency and status, load it with ingest_logs (or try the pipeline on generate_synthetic_data), and run the analysis again."
            );
        }
        Some(a) => {
            let o = &a.overview;
            let top_model = a.breakdown(Dimension::Model).and_then(|b| b.rows.first());
            let top_feature = a.breakdown(Dimension::Feature).and_then(|b| b.rows.first());
            facts.push(format!(
                "Dataset {}: {} model calls, spend {}, from {} to {} ({} days).",
                a.dataset,
                o.model_calls,
                money(o.spend_usd),
                o.first.as_deref().unwrap_or("-"),
                o.last.as_deref().unwrap_or("-"),
                o.days
            ));
            let _ = write!(
                text,
                "{} model calls cost {}",
                o.model_calls,
                money(o.spend_usd)
            );
            if let Some(m) = top_model {
                facts.push(format!(
                    "Largest model: {} with {} ({}% of spend).",
                    m.key,
                    money(m.spend_usd),
                    m.share_pct
                ));
                let _ = write!(text, "; {} alone is {}% of it", m.key, m.share_pct);
            }
            if let Some(f) = top_feature {
                facts.push(format!(
                    "Largest feature: {} with {} ({}%).",
                    f.key,
                    money(f.spend_usd),
                    f.share_pct
                ));
            }
            text.push('.');
            facts.push(format!(
                "Failed calls: {} ({}%), costing {}.",
                o.failed_calls,
                o.error_rate_pct,
                money(o.failed_cost_usd)
            ));
            if o.failed_calls > 0 {
                let _ = write!(
                    text,
                    " {} calls failed ({}%), costing {}.",
                    o.failed_calls,
                    o.error_rate_pct,
                    money(o.failed_cost_usd)
                );
            }
            if !a.anomalies.days.is_empty() {
                let days: Vec<String> = a
                    .anomalies
                    .days
                    .iter()
                    .map(|d| format!("{} ({})", d.day, money(d.spend_usd)))
                    .collect();
                facts.push(format!("Anomalous days: {}.", days.join(", ")));
                let _ = write!(text, " Spend was unusual on {}.", days.join(", "));
            }
            if a.duplicates.repeats > 0 {
                facts.push(format!(
                    "Repeated prompts: {} calls ({}%), costing {}.",
                    a.duplicates.repeats,
                    a.duplicates.duplicate_rate_pct,
                    money(a.duplicates.repeat_cost_usd)
                ));
            }
            if recs.is_empty() {
                if triage.is_some_and(|t| t.data != Sufficiency::Enough) {
                    text.push_str(" The data is too thin for priced recommendations.");
                } else if optimized {
                    text.push_str(" No optimization pattern was found in the data.");
                }
            } else {
                for r in recs {
                    facts.push(format!(
                        "Recommendation {}: {} calls, {} now, saves {} ({}% of spend).",
                        r.kind,
                        r.affected_calls,
                        money(r.current_cost_usd),
                        money(r.savings_usd),
                        r.savings_pct_of_spend
                    ));
                }
                let best = &recs[0];
                let _ = write!(
                    text,
                    " {} recommendation(s) were found; the largest, {}, saves {}.",
                    recs.len(),
                    best.title.to_lowercase(),
                    money(best.savings_usd)
                );
            }
            if let Some(p) = plan
                && !p.steps.is_empty()
            {
                facts.push(format!(
                    "Plan: {} steps, {} days of effort, combined savings {} ({}% of spend).",
                    p.steps.len(),
                    p.total_effort_days,
                    money(p.combined_savings_usd),
                    p.combined_savings_pct
                ));
                let _ = write!(
                    text,
                    " Together the plan saves {} ({}% of spend) for about {} days of work, starting with {}.",
                    money(p.combined_savings_usd),
                    p.combined_savings_pct,
                    p.total_effort_days,
                    p.steps[0].title.to_lowercase()
                );
            }
        }
    }
    let user = format!(
        "Write the executive summary (3 to 5 sentences, plain prose) of a cost report on an organization's LLM usage.\nThe user asked: {}\nFacts (use only these figures, copied exactly; state no other number):\n- {}",
        if request.trim().is_empty() {
            "(no request)"
        } else {
            request.trim()
        },
        facts.join("\n- ")
    );
    SummaryPrompt {
        system: "You are a FinOps analyst. You summarize; you never compute or invent figures."
            .into(),
        user,
        deterministic: text,
        max_tokens: 400,
    }
}

/// Ask the narrator for the summary; keep its text only if it states no figure absent from
/// the facts. Returns (summary, narrator name, note when an answer was refused).
pub fn narrate_summary(
    narrator: &dyn Narrator,
    prompt: &SummaryPrompt,
) -> (String, String, Option<String>) {
    match narrator.executive_summary(prompt) {
        None => (prompt.deterministic.clone(), DETERMINISTIC.into(), None),
        Some(n) if n.text.trim().is_empty() => (
            prompt.deterministic.clone(),
            DETERMINISTIC.into(),
            Some(format!("{} returned an empty summary", n.model)),
        ),
        Some(n) => {
            let bad = narrator::invented_figures(&n.text, &prompt.user);
            if bad.is_empty() {
                (n.text.trim().to_string(), n.model, None)
            } else {
                (
                    prompt.deterministic.clone(),
                    DETERMINISTIC.into(),
                    Some(format!(
                        "the summary from {} stated figures not in the analysis ({}); the deterministic summary is used",
                        n.model,
                        bad.join(", ")
                    )),
                )
            }
        }
    }
}

mod html;
mod markdown;

pub use html::{StoredReport, html};
pub use markdown::markdown;

/// How every record of the dataset was counted, when not every record is a model call:
/// the rollups left out (and the spend they repeat), the other spans, and the spend that no
/// model or provider can be credited with. `None` when every record is a named model call.
pub fn accounting(o: &super::analysis::Overview) -> Option<String> {
    let mut parts = Vec::new();
    if o.rollup_records > 0 {
        parts.push(format!(
            "{} spans were left out as rollups: a child span in the same trace carries their usage ({} of it), which is counted once, in the children",
            o.rollup_records,
            money(o.rollup_spend_usd)
        ));
    }
    if o.other_records > 0 {
        parts.push(format!(
            "{} spans are not model calls (tool and agent spans with no tokens and no cost)",
            o.other_records
        ));
    }
    if o.unattributed_calls > 0 {
        parts.push(format!(
            "{} of the spend ({} calls) names no model or provider: it is in the totals but in no model's figures or recommendation; collect `gen_ai.request.model` and `gen_ai.provider.name` (or the `model` and `provider` columns) to attribute it",
            money(o.unattributed_spend_usd),
            o.unattributed_calls
        ));
    }
    if o.model_calls == 0 && o.records > 0 {
        parts.push(format!(
            "none of the {} records is a model call: collect the spans of model calls (an operation such as `chat`, or any span with tokens or a cost)",
            o.records
        ));
    }
    (!parts.is_empty()).then(|| {
        let mut line = parts.join("; ");
        line.push('.');
        let mut c = line.chars();
        c.next()
            .map(|f| f.to_uppercase().collect::<String>() + c.as_str())
            .unwrap_or(line)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn money_groups_thousands() {
        assert_eq!(money(1234567.891), "$1,234,567.89");
        assert_eq!(money(0.004), "$0.00");
        assert_eq!(money(-12.5), "-$12.50");
    }
}
