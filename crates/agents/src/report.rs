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

use super::analysis::{CostAnalysis, WorkloadStats};
use super::narrator::{self, DETERMINISTIC, Narrator, SummaryPrompt};
use super::optimize::Recommendation;
use super::plan::ActionPlan;
use super::triage::{Sufficiency, Triage};
use crate::charts::{ChartError, ChartKind, Charts};
use apex_core::pricing::{ModelPrice, PriceCatalog, PriceOrigin};
use apex_store::analytics::Dimension;

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

fn table(out: &mut String, head: &[&str], rows: Vec<Vec<String>>) {
    let _ = writeln!(out, "| {} |", head.join(" | "));
    let _ = writeln!(out, "|{}", head.iter().map(|_| "---|").collect::<String>());
    for r in rows {
        let _ = writeln!(out, "| {} |", r.join(" | "));
    }
    out.push('\n');
}

/// A table cell: no pipe or line break may end the cell early.
fn cell(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

/// A per-million-token price: cents always, and up to four decimals where the price has them.
fn per_million(x: f64) -> String {
    let s = format!("{x:.4}");
    let trimmed = s.trim_end_matches('0');
    let decimals = trimmed.split_once('.').map_or(0, |(_, d)| d.len());
    format!(
        "${}{}",
        trimmed,
        "0".repeat(2usize.saturating_sub(decimals))
    )
}

/// "Prices used": every catalog entry the report priced with, where its figures come from,
/// and whether they were checked on the provider's page (those not checked are marked †).
fn prices_section(out: &mut String, prices: &[PriceUsed]) {
    let _ = writeln!(
        out,
        "## Prices used\n\nUSD per million tokens, from the price catalog (`apex://pricing`){}. † marks a price not checked against the provider's public page: confirm it at its source before budgeting.\n",
        if prices
            .iter()
            .any(|p| matches!(p.price.origin, PriceOrigin::File { .. }))
        {
            " with the user's prices file laid over it"
        } else {
            ""
        }
    );
    table(
        out,
        &[
            "model",
            "used for",
            "input",
            "output",
            "cache read",
            "batch in/out",
            "checked",
            "source",
        ],
        prices
            .iter()
            .map(|u| {
                let p = &u.price;
                let date = if p.as_of.is_empty() {
                    "no date given".to_string()
                } else {
                    p.as_of.clone()
                };
                let mut checked = if p.verified {
                    format!("yes, {date}")
                } else {
                    format!("† not checked ({date})")
                };
                if let PriceOrigin::File { .. } = &p.origin {
                    let _ = write!(checked, "; from {}", p.origin);
                }
                vec![
                    cell(&format!(
                        "{}/{}{}",
                        p.provider,
                        p.model,
                        if p.verified { "" } else { " †" }
                    )),
                    cell(&u.used_for.join(", ")),
                    per_million(p.input),
                    per_million(p.output),
                    per_million(p.cache_read),
                    format!(
                        "{} / {}",
                        per_million(p.batch_input),
                        per_million(p.batch_output)
                    ),
                    cell(&checked),
                    cell(&p.source),
                ]
            })
            .collect(),
    );
}

/// The report as markdown.
pub fn markdown(r: &Report) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "# {}\n", r.title);
    let _ = writeln!(
        out,
        "- request: {}\n- dataset: {}\n- agent: {} (stages: {})\n- narrator: {}",
        if r.request.trim().is_empty() {
            "(none)"
        } else {
            r.request.trim()
        },
        r.dataset.as_deref().unwrap_or("(none)"),
        r.agent,
        r.pipeline.join(" → "),
        r.narrator
    );
    if let Some(t) = &r.triage {
        let _ = writeln!(
            out,
            "- category: {} (classified by {})\n- data: {:?} — {}",
            t.category,
            t.classified_by,
            t.data,
            t.reasons.join("; ")
        );
    }
    out.push('\n');
    let _ = writeln!(out, "## Executive summary\n\n{}\n", r.executive_summary);
    if let Some(note) = &r.narrator_note {
        let _ = writeln!(out, "_Note: {note}._\n");
    }
    let charts = Charts::of_report(r).available();
    if !charts.is_empty() {
        let _ = writeln!(
            out,
            "## Charts\n\nBeside this report (`netra-apex agent run --out DIR`) and as resources of its run: `apex://runs/<run_id>/charts/<name>.svg`, and the whole report with its charts at `apex://runs/<run_id>/report.html`.\n"
        );
        for k in charts {
            let _ = writeln!(out, "![{}]({})\n", k.title(), k.path());
        }
    }
    // Dataset models whose price was not checked on the provider's page.
    let unchecked: BTreeSet<&str> = r
        .prices
        .iter()
        .filter(|p| !p.price.verified)
        .flat_map(|p| p.used_for.iter().map(String::as_str))
        .collect();
    if let Some(a) = &r.cost_analysis {
        let o = &a.overview;
        let _ = writeln!(out, "## Cost breakdown\n");
        let _ = writeln!(
            out,
            "{} records ({} model calls) from {} to {}: spend {}, {} input and {} output tokens, {} failed calls ({}%) costing {}.\n",
            o.records,
            o.model_calls,
            o.first.as_deref().unwrap_or("-"),
            o.last.as_deref().unwrap_or("-"),
            money(o.spend_usd),
            o.input_tokens,
            o.output_tokens,
            o.failed_calls,
            o.error_rate_pct,
            money(o.failed_cost_usd)
        );
        for b in &a.breakdowns {
            if b.dimension == Dimension::Day {
                continue;
            }
            let _ = writeln!(
                out,
                "### By {}{}\n",
                b.dimension.name(),
                if b.groups > b.rows.len() {
                    format!(" (top {} of {})", b.rows.len(), b.groups)
                } else {
                    String::new()
                }
            );
            table(
                &mut out,
                &[b.dimension.name(), "calls", "spend", "share", "failed"],
                b.rows
                    .iter()
                    .map(|x| {
                        let mut key = match &x.provider {
                            Some(p) => format!("{p}/{}", x.key),
                            None => x.key.clone(),
                        };
                        if b.dimension == Dimension::Model && unchecked.contains(x.key.as_str()) {
                            key.push_str(" †");
                        }
                        vec![
                            key,
                            x.calls.to_string(),
                            money(x.spend_usd),
                            format!("{}%", x.share_pct),
                            x.failed_calls.to_string(),
                        ]
                    })
                    .collect(),
            );
        }
        if let Some(days) = a.breakdown(Dimension::Day) {
            let _ = writeln!(out, "### By day\n");
            table(
                &mut out,
                &["day", "calls", "spend"],
                days.rows
                    .iter()
                    .map(|d| vec![d.key.clone(), d.calls.to_string(), money(d.spend_usd)])
                    .collect(),
            );
        }
        let _ = writeln!(out, "### Percentiles\n");
        table(
            &mut out,
            &[
                "metric", "scope", "count", "p50", "p90", "p95", "p99", "max",
            ],
            a.percentiles
                .iter()
                .map(|p| {
                    vec![
                        p.metric.clone(),
                        p.scope.clone(),
                        p.count.to_string(),
                        p.p50.to_string(),
                        p.p90.to_string(),
                        p.p95.to_string(),
                        p.p99.to_string(),
                        p.max.to_string(),
                    ]
                })
                .collect(),
        );
        if !a.failures.by_type.is_empty() {
            let _ = writeln!(out, "### Failures\n");
            table(
                &mut out,
                &["error type", "calls", "cost"],
                a.failures
                    .by_type
                    .iter()
                    .map(|e| vec![e.error_type.clone(), e.calls.to_string(), money(e.cost_usd)])
                    .collect(),
            );
        }
        let _ = writeln!(out, "### Anomalies\n");
        match (&a.anomalies.skipped, a.anomalies.days.is_empty()) {
            (Some(why), _) => {
                let _ = writeln!(out, "Not analysed: {why}.\n");
            }
            (None, true) => {
                let _ = writeln!(
                    out,
                    "No day's spend is unusual (median {}, MAD {}).\n",
                    money(a.anomalies.median_daily_spend_usd),
                    money(a.anomalies.mad_usd)
                );
            }
            (None, false) => table(
                &mut out,
                &["day", "spend", "robust z"],
                a.anomalies
                    .days
                    .iter()
                    .map(|d| vec![d.day.clone(), money(d.spend_usd), d.robust_z.to_string()])
                    .collect(),
            ),
        }
        let d = &a.duplicates;
        let _ = writeln!(
            out,
            "### Repeated prompts\n\n{} of {} successful calls with a prompt hash repeated an earlier prompt ({}%), costing {}.\n",
            d.repeats,
            d.ok_calls_with_prompt_hash,
            d.duplicate_rate_pct,
            money(d.repeat_cost_usd)
        );
    }
    if r.pipeline.iter().any(|s| s == "optimization") {
        let _ = writeln!(out, "## Recommendations\n");
        if r.recommendations.is_empty() {
            let _ = writeln!(
                out,
                "None: no optimization pattern was found in the data.\n"
            );
        } else {
            table(
                &mut out,
                &[
                    "recommendation",
                    "calls",
                    "current",
                    "projected",
                    "savings",
                    "effort",
                ],
                r.recommendations
                    .iter()
                    .map(|x| {
                        vec![
                            x.title.clone(),
                            x.affected_calls.to_string(),
                            money(x.current_cost_usd),
                            money(x.projected_cost_usd),
                            format!("{} ({}%)", money(x.savings_usd), x.savings_pct_of_spend),
                            format!("{:?}", x.effort).to_lowercase(),
                        ]
                    })
                    .collect(),
            );
            for x in &r.recommendations {
                let _ = writeln!(
                    out,
                    "### {}\n\n{}\n\nConfidence: {}.\n",
                    x.title, x.description, x.confidence
                );
                for i in &x.items {
                    let _ = writeln!(
                        out,
                        "- {}: {} calls, {} → {} (saves {}); {}",
                        i.scope,
                        i.calls,
                        money(i.current_cost_usd),
                        money(i.projected_cost_usd),
                        money(i.savings_usd),
                        i.detail
                    );
                }
                out.push('\n');
            }
        }
    }
    if let Some(p) = &r.action_plan {
        let _ = writeln!(out, "## Action plan\n");
        if p.steps.is_empty() {
            let _ = writeln!(out, "Nothing to do: no recommendation applies.\n");
        } else {
            for s in &p.steps {
                let _ = writeln!(
                    out,
                    "{}. **{}** — effort {:?} (~{} days), saves {}, cumulative {}",
                    s.step,
                    s.title,
                    s.effort,
                    s.effort_days,
                    money(s.savings_usd),
                    money(s.cumulative_savings_usd)
                );
                for a in &s.actions {
                    let _ = writeln!(out, "   - {a}");
                }
            }
            let _ = writeln!(
                out,
                "\nCombined: {} ({}% of spend), ~{} days of effort.\n",
                money(p.combined_savings_usd),
                p.combined_savings_pct,
                p.total_effort_days
            );
        }
    }
    if !r.prices.is_empty() {
        prices_section(&mut out, &r.prices);
    }
    if !r.data_to_collect.is_empty() {
        let _ = writeln!(out, "## Data to collect\n");
        for d in &r.data_to_collect {
            let _ = writeln!(out, "- {d}");
        }
        out.push('\n');
    }
    let _ = writeln!(
        out,
        "## Confidence\n\n{} ({})\n",
        r.confidence.level, r.confidence.score
    );
    for f in &r.confidence.factors {
        let _ = writeln!(out, "- {}: {} — {}", f.name, f.score, f.detail);
    }
    out.push('\n');
    for n in &r.notes {
        let _ = writeln!(out, "_{n}_\n");
    }
    if let Some(a) = &r.cost_analysis {
        let _ = writeln!(
            out,
            "## Reproduce these figures\n\nEvery figure above comes from one of these queries (run them with query_data); the JSON report carries the query of each figure, percentiles included.\n"
        );
        let _ = writeln!(out, "- overview: `{}`", a.overview.sql);
        for b in &a.breakdowns {
            let _ = writeln!(out, "- by {}: `{}`", b.dimension.name(), b.sql);
        }
        let _ = writeln!(out, "- failures: `{}`", a.failures.sql);
        let _ = writeln!(out, "- repeated prompts: `{}`", a.duplicates.sql);
        for x in &r.recommendations {
            for q in &x.sql {
                let _ = writeln!(out, "- {}: `{}`", x.kind, q);
            }
        }
    }
    out
}

/// A finished agent run's report as its run stores it: title, markdown and charts. What the
/// `apex://runs/{id}/report.html` and `.../charts/<name>.svg` resources and `--out` render.
#[derive(Debug, Clone)]
pub struct StoredReport {
    pub title: String,
    pub markdown: String,
    pub charts: Charts,
}

impl StoredReport {
    /// Read a run's stored result (`{"report": .., "markdown": ..}`, see
    /// [`crate::pipeline::run_result`]); `Ok(None)` when it holds no report.
    pub fn from_run_result(result: &Value) -> Result<Option<Self>, ChartError> {
        let report = result.get("report").filter(|r| r.is_object());
        let markdown = result.get("markdown").and_then(Value::as_str);
        let (Some(report), Some(markdown)) = (report, markdown) else {
            return Ok(None);
        };
        Ok(Some(Self {
            title: report
                .get("title")
                .and_then(Value::as_str)
                .unwrap_or("Workload cost report")
                .to_string(),
            markdown: markdown.to_string(),
            charts: Charts::from_report_json(report)?,
        }))
    }

    /// The report as one HTML page with its charts inline.
    pub fn html(&self) -> Result<String, ChartError> {
        html(&self.title, &self.markdown, &self.charts)
    }
}

const STYLE: &str = "body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;line-height:1.5;color:#1b1b1b;margin:0}\
main{max-width:960px;margin:0 auto;padding:1.5rem}\
table{border-collapse:collapse;margin:0.5rem 0 1.25rem;font-size:0.9rem}\
th,td{border:1px solid #d0d0d0;padding:0.25rem 0.6rem;text-align:left;vertical-align:top}\
th{background:#f3f3f3}\
code{background:#f3f3f3;padding:0 0.2rem;font-size:0.85em;word-break:break-all}\
figure{margin:1rem 0}figure svg{max-width:100%;height:auto;display:block}";

fn escaped(text: &str) -> String {
    let mut out = String::new();
    pulldown_cmark::html::push_html(&mut out, std::iter::once(Event::Text(text.into())));
    out
}

fn figure(kind: ChartKind, charts: &Charts) -> Result<String, ChartError> {
    Ok(format!(
        "<figure id=\"chart-{}\" class=\"chart\" role=\"img\" aria-label=\"{}\">\n{}</figure>\n",
        kind.name(),
        escaped(kind.title()),
        charts.svg(kind)?
    ))
}

/// The report as one self-contained HTML page: its markdown rendered, each chart the
/// markdown links drawn inline where it is linked (charts it does not link are added at the
/// end). Text from the report is never taken as markup (it quotes the user's request and
/// dataset), links go only to http(s) pages, and the page forbids scripts.
pub fn html(title: &str, markdown: &str, charts: &Charts) -> Result<String, ChartError> {
    let available = charts.available();
    let events: Vec<Event> = Parser::new_ext(markdown, Options::ENABLE_TABLES).collect();
    let mut body: Vec<Event> = Vec::with_capacity(events.len());
    let mut inlined = BTreeSet::new();
    let mut in_dropped_link = false;
    let mut i = 0;
    while i < events.len() {
        // A paragraph that holds only a chart's image becomes a figure with the chart.
        if let (Event::Start(Tag::Paragraph), Some(Event::Start(Tag::Image { dest_url, .. }))) =
            (&events[i], events.get(i + 1))
            && let Some(kind) = dest_url
                .strip_prefix("charts/")
                .and_then(ChartKind::parse)
                .filter(|k| available.contains(k))
            && let Some(end) = events[i + 1..]
                .iter()
                .position(|e| matches!(e, Event::End(TagEnd::Image)))
                .map(|p| p + i + 1)
            && matches!(events.get(end + 1), Some(Event::End(TagEnd::Paragraph)))
        {
            body.push(Event::Html(CowStr::from(figure(kind, charts)?)));
            inlined.insert(kind.name());
            i = end + 2;
            continue;
        }
        match &events[i] {
            Event::Html(t) | Event::InlineHtml(t) => body.push(Event::Text(t.clone())),
            // Other images load nothing: their alt text stays.
            Event::Start(Tag::Image { .. }) | Event::End(TagEnd::Image) => {}
            Event::Start(Tag::Link { dest_url, .. })
                if !(dest_url.starts_with("https://") || dest_url.starts_with("http://")) =>
            {
                in_dropped_link = true;
            }
            Event::End(TagEnd::Link) if in_dropped_link => in_dropped_link = false,
            e => body.push(e.clone()),
        }
        i += 1;
    }
    let rest: Vec<ChartKind> = available
        .into_iter()
        .filter(|k| !inlined.contains(k.name()))
        .collect();
    if !rest.is_empty() {
        body.push(Event::Html("<h2>Charts</h2>\n".into()));
        for k in rest {
            body.push(Event::Html(CowStr::from(figure(k, charts)?)));
        }
    }
    let mut out = format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">\n\
         <title>{}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n<main>\n",
        escaped(title)
    );
    pulldown_cmark::html::push_html(&mut out, body.into_iter());
    out.push_str("</main>\n</body>\n</html>\n");
    Ok(out)
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
