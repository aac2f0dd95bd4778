//! The optimization agent: priced recommendations from the workload aggregates and the
//! price catalog — right-sizing, prompt caching, batch API, response caching, output-token
//! caps and retry waste. A recommendation exists only when its pattern is in the data.
//!
//! Savings are the catalog-priced difference between the calls as they ran and as they
//! would run, capped by what the affected calls actually cost; so no recommendation saves
//! more than the spend it touches. It does not order or schedule them (that is `plan`).

use serde::Serialize;
use serde_json::{Value, json};

use super::analysis::exact::Exact;
use super::analysis::sql;
use super::analysis::{
    SHORT_INPUT_TOKENS, SHORT_OUTPUT_TOKENS, WorkloadStats, percentile_ranks, usd,
};
use apex_core::pricing::{ModelPrice, PriceCatalog};

/// Groups of fewer successful calls are not considered for prompt caching.
pub const MIN_PREFIX_CALLS: u64 = 20;
/// Prompts shorter than this cannot be cached by the providers.
pub const MIN_CACHEABLE_TOKENS: u64 = 1_024;
/// Prompt caches live this long without use.
pub const CACHE_TTL_MINUTES: u64 = 5;
/// Models with fewer successful calls get no output cap (their p95 is not meaningful).
pub const MIN_CAP_CALLS: u64 = 100;
/// A model's output is long-tailed when p99 exceeds this multiple of p50.
pub const TAIL_RATIO: i64 = 3;

/// How much work a recommendation takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Effort {
    Low,
    Medium,
    High,
}

/// One model (or model and feature, or error type) a recommendation touches.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Item {
    pub scope: String,
    pub calls: u64,
    pub current_cost_usd: f64,
    pub projected_cost_usd: f64,
    pub savings_usd: f64,
    pub detail: String,
}

/// A priced recommendation.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Recommendation {
    /// `right_sizing`, `prompt_caching`, `batch_api`, `response_caching`, `output_caps`, `retry_waste`.
    pub kind: String,
    pub title: String,
    pub description: String,
    pub affected_calls: u64,
    pub current_cost_usd: f64,
    pub projected_cost_usd: f64,
    pub savings_usd: f64,
    /// Savings as a share of the dataset's whole spend.
    pub savings_pct_of_spend: f64,
    pub effort: Effort,
    pub effort_days: u32,
    pub confidence: String,
    pub items: Vec<Item>,
    /// The queries whose rows are the affected calls and their cost.
    pub sql: Vec<String>,
    /// Thresholds, prices and formulas that turn those rows into the figures.
    pub inputs: Value,
}

/// Price one item: the catalog difference, capped by what the calls cost.
fn item(
    scope: String,
    calls: u64,
    actual: f64,
    catalog_now: f64,
    catalog_then: f64,
    detail: String,
) -> Option<Item> {
    let savings = (catalog_now - catalog_then).min(actual).max(0.0);
    let savings = usd(savings);
    (savings > 0.0).then(|| Item {
        scope,
        calls,
        current_cost_usd: usd(actual),
        projected_cost_usd: usd(actual - savings),
        savings_usd: savings,
        detail,
    })
}

fn price_json(p: &ModelPrice) -> Value {
    json!({"model": p.model, "input": p.input, "output": p.output, "cache_read": p.cache_read,
           "cache_write": p.cache_write, "batch_input": p.batch_input, "batch_output": p.batch_output,
           "source": p.source, "as_of": p.as_of})
}

#[allow(clippy::too_many_arguments)]
fn recommendation(
    kind: &str,
    title: &str,
    description: String,
    effort: Effort,
    effort_days: u32,
    confidence: &str,
    items: Vec<Item>,
    sql: Vec<String>,
    inputs: Value,
    spend: f64,
) -> Option<Recommendation> {
    if items.is_empty() {
        return None;
    }
    let current: f64 = items.iter().map(|i| i.current_cost_usd).sum();
    let savings: f64 = items.iter().map(|i| i.savings_usd).sum();
    Some(Recommendation {
        kind: kind.into(),
        title: title.into(),
        description,
        affected_calls: items.iter().map(|i| i.calls).sum(),
        current_cost_usd: usd(current),
        projected_cost_usd: usd(current - savings),
        savings_usd: usd(savings),
        savings_pct_of_spend: if spend > 0.0 {
            (savings / spend * 1000.0).round() / 10.0
        } else {
            0.0
        },
        effort,
        effort_days,
        confidence: confidence.into(),
        items,
        sql,
        inputs,
    })
}

fn right_sizing(s: &WorkloadStats, cat: &PriceCatalog) -> Option<Recommendation> {
    let mut items = Vec::new();
    let mut prices = Vec::new();
    let mut models = Vec::new();
    for m in &s.models {
        let Some(p) = cat.get(&m.model) else { continue };
        let Some(sub) = p.substitute.as_deref().and_then(|n| cat.get(n)) else {
            continue;
        };
        if p.tier != "premium" {
            continue;
        }
        models.push(m.model.as_str());
        let a = &m.short_ok;
        if a.calls == 0 {
            continue;
        }
        let now = p.cost(a.input, a.output, a.cache_read, a.cache_write);
        let then = sub.cost(a.input, a.output, a.cache_read, a.cache_write);
        if let Some(i) = item(
            format!("{}/{}", m.provider, m.model),
            a.calls,
            a.spend,
            now,
            then,
            format!("move short calls to {} ({} tier)", sub.model, sub.tier),
        ) {
            prices.push(json!({"from": price_json(p), "to": price_json(sub)}));
            items.push(i);
        }
    }
    let calls: u64 = items.iter().map(|i| i.calls).sum();
    recommendation(
        "right_sizing",
        "Route short, simple calls on premium models to their smaller siblings",
        format!(
            "{calls} successful calls with at most {SHORT_INPUT_TOKENS} input and {SHORT_OUTPUT_TOKENS} output tokens ran on premium-tier models. Route them to the catalog's same-provider substitute after a quality check on a sample."
        ),
        Effort::Medium,
        5,
        "medium: assumes the smaller model handles these short calls at acceptable quality; verify on a sample",
        items,
        vec![sql::short_calls(
            s.scope(),
            SHORT_INPUT_TOKENS,
            SHORT_OUTPUT_TOKENS,
            &models,
        )],
        json!({"max_input_tokens": SHORT_INPUT_TOKENS, "max_output_tokens": SHORT_OUTPUT_TOKENS,
               "projected": "substitute.cost(sum input, sum output, sum cache_read, sum cache_write)",
               "savings": "min(catalog cost now - catalog cost on substitute, actual cost)", "prices": prices}),
        s.total.spend,
    )
}

fn prompt_caching(s: &WorkloadStats, cat: &PriceCatalog) -> Option<Recommendation> {
    let mut items = Vec::new();
    let mut prices = Vec::new();
    for g in &s.groups {
        if g.ok_calls < MIN_PREFIX_CALLS || g.cache_read > 0 || g.min_input < MIN_CACHEABLE_TOKENS {
            continue;
        }
        let Some(p) = cat.get(&g.model) else { continue };
        if p.cache_read >= p.input {
            continue;
        }
        let prefix = g.min_input as f64;
        let writes = g.cache_windows.clamp(1, g.ok_calls);
        let reads = g.ok_calls - writes;
        // Reads pay cache_read instead of input on the prefix; writes pay cache_write instead.
        let delta = (reads as f64 * prefix * (p.input - p.cache_read)
            - writes as f64 * prefix * (p.cache_write - p.input))
            / 1e6;
        if let Some(i) = item(
            format!("{}/{} feature {}", g.provider, g.model, g.feature),
            g.ok_calls,
            g.ok_spend,
            delta,
            0.0,
            format!(
                "cache a {} token shared prefix: {reads} cached reads, {writes} cache writes",
                g.min_input
            ),
        ) {
            prices.push(price_json(p));
            items.push(i);
        }
    }
    let calls: u64 = items.iter().map(|i| i.calls).sum();
    recommendation(
        "prompt_caching",
        "Cache the repeated prompt prefix of high-volume features",
        format!(
            "{calls} successful calls in feature/model groups of at least {MIN_PREFIX_CALLS} calls send at least {MIN_CACHEABLE_TOKENS} input tokens each and read nothing from the prompt cache. Put the stable part (system prompt, instructions, shared context) first and enable caching."
        ),
        Effort::Low,
        2,
        "medium: the shared prefix is estimated as the smallest prompt of each group; the real shared part may be shorter",
        items,
        vec![sql::prefix_groups(s.scope())],
        json!({"min_calls": MIN_PREFIX_CALLS, "min_cacheable_tokens": MIN_CACHEABLE_TOKENS,
               "prefix_tokens": "MIN(input_tokens) of the group", "cache_ttl_minutes": CACHE_TTL_MINUTES,
               "cache_writes": "the group's distinct 5-minute windows (cache_windows): the first call of each writes the cache",
               "savings": "(reads * prefix * (input - cache_read) - writes * prefix * (cache_write - input)) / 1e6, capped by the group's cost",
               "prices": prices}),
        s.total.spend,
    )
}

fn batch_api(s: &WorkloadStats, cat: &PriceCatalog) -> Option<Recommendation> {
    let mut items = Vec::new();
    let mut prices = Vec::new();
    let mut models = Vec::new();
    for m in &s.models {
        let Some(p) = cat.get(&m.model) else { continue };
        if p.batch_input >= p.input && p.batch_output >= p.output {
            continue;
        }
        models.push(m.model.as_str());
        let a = &m.batchable_ok;
        if a.calls == 0 {
            continue;
        }
        let batch = ModelPrice {
            input: p.batch_input,
            output: p.batch_output,
            cache_read: p.cache_read.min(p.batch_input),
            ..p.clone()
        };
        let now = p.cost(a.input, a.output, a.cache_read, a.cache_write);
        let then = batch.cost(a.input, a.output, a.cache_read, a.cache_write);
        if let Some(i) = item(
            format!("{}/{}", m.provider, m.model),
            a.calls,
            a.spend,
            now,
            then,
            "submit through the provider's batch API (results within 24 h)".into(),
        ) {
            prices.push(price_json(p));
            items.push(i);
        }
    }
    let calls: u64 = items.iter().map(|i| i.calls).sum();
    recommendation(
        "batch_api",
        "Send non-interactive work through the batch API",
        format!(
            "{calls} successful calls belong to non-interactive work (workload type or feature marked {}) on models whose provider discounts batch requests.",
            sql::NON_INTERACTIVE_MARKERS.join("/")
        ),
        Effort::Medium,
        4,
        "high: batch prices are published list prices; only latency changes",
        items,
        vec![sql::non_interactive(s.scope(), &models)],
        json!({"non_interactive_markers": sql::NON_INTERACTIVE_MARKERS,
               "projected": "cost at batch_input / batch_output (cache reads at min(cache_read, batch_input))",
               "prices": prices}),
        s.total.spend,
    )
}

fn response_caching(s: &WorkloadStats) -> Option<Recommendation> {
    let items: Vec<Item> = s
        .duplicates
        .iter()
        .filter_map(|d| {
            item(
                format!("{}/{}", d.provider, d.model),
                d.repeats,
                d.repeat_cost_usd,
                d.repeat_cost_usd,
                0.0,
                format!(
                    "{} prompts sent {} times in all",
                    d.repeated_prompts, d.calls
                ),
            )
        })
        .collect();
    let calls: u64 = items.iter().map(|i| i.calls).sum();
    recommendation(
        "response_caching",
        "Serve repeated identical prompts from a response cache",
        format!(
            "{calls} successful calls repeated a prompt (same prompt_hash, provider and model) already answered. A response cache keyed on the prompt hash answers them without a model call."
        ),
        Effort::Low,
        2,
        "high for deterministic prompts; lower where answers must vary (sampling temperature > 0 by design)",
        items,
        vec![sql::duplicates(s.scope())],
        json!({"savings": "repeat_cost_usd: each repeated prompt's average cost per call times its repeats"}),
        s.total.spend,
    )
}

fn output_caps(s: &WorkloadStats, cat: &PriceCatalog) -> Option<Recommendation> {
    let mut items = Vec::new();
    let mut sql = Vec::new();
    let mut caps = Vec::new();
    for m in &s.models {
        let Some(p) = cat.get(&m.model) else { continue };
        let (n, ranks, _) = percentile_ranks(&m.output_hist, &[50, 95, 99]);
        if n < MIN_CAP_CALLS {
            continue;
        }
        let (p50, cap, p99) = (ranks[0].1, ranks[1].1, ranks[2].1);
        if p50 <= 0 || p99 <= TAIL_RATIO * p50 || cap <= 0 {
            continue;
        }
        let (mut calls, mut cost, mut excess) = (0u64, Exact::default(), 0u64);
        for (&out, &(c, usd_)) in &m.output_hist {
            if out > cap {
                calls += c;
                cost.add(usd_);
                excess += (out - cap) as u64 * c;
            }
        }
        let cost = cost.value();
        let delta = excess as f64 * p.output / 1e6;
        if let Some(i) = item(
            format!("{}/{}", m.provider, m.model),
            calls,
            cost,
            delta,
            0.0,
            format!(
                "cap output at {cap} tokens (p95; p50 {p50}, p99 {p99}): {excess} tokens above the cap"
            ),
        ) {
            sql.push(sql::output_tail(
                s.scope(),
                &m.provider,
                &m.model,
                cap as u64,
            ));
            caps.push(json!({"model": m.model, "p50": p50, "p95_cap": cap, "p99": p99, "output_price": p.output}));
            items.push(i);
        }
    }
    let calls: u64 = items.iter().map(|i| i.calls).sum();
    recommendation(
        "output_caps",
        "Cap output tokens where a long tail of answers runs far past the typical length",
        format!(
            "{calls} successful calls produced more output than their model's p95, on models whose p99 exceeds {TAIL_RATIO}x the median. Set max_tokens near the p95 and ask for concise answers."
        ),
        Effort::Low,
        1,
        "medium: assumes answers past the p95 can be shortened to it without loss; check truncated answers",
        items,
        sql,
        json!({"cap": "p95 of the model's output tokens (successful calls)", "min_calls": MIN_CAP_CALLS,
               "tail_rule": format!("p99 > {TAIL_RATIO} * p50"), "savings": "excess_output_tokens * output price / 1e6, capped by the calls' cost",
               "caps": caps}),
        s.total.spend,
    )
}

fn retry_waste(s: &WorkloadStats) -> Option<Recommendation> {
    let items: Vec<Item> = s
        .billed_failures
        .iter()
        .filter_map(|(p, m, e, n, c)| {
            item(
                format!("{p}/{m} {e}"),
                *n,
                *c,
                *c,
                0.0,
                match e.as_str() {
                    t if t.contains("timeout") => "stream responses or raise the client timeout so finished work is not thrown away".into(),
                    t if t.contains("length") || t.contains("context") => "trim prompts to the context window before sending".into(),
                    t if t.contains("rate") => "back off and queue instead of retrying at once".into(),
                    _ => "find the cause; a failed call that was billed is paid twice once retried".into(),
                },
            )
        })
        .collect();
    let calls: u64 = items.iter().map(|i| i.calls).sum();
    recommendation(
        "retry_waste",
        "Stop paying for failed calls",
        format!(
            "{calls} calls failed after tokens were billed; their retries paid for the same work again."
        ),
        Effort::Medium,
        3,
        "medium: the savings assume the failures can be prevented, not just retried",
        items,
        vec![sql::billed_failures(s.scope())],
        json!({"savings": "the billed cost of failed calls (cost_usd > 0, status <> 'ok')"}),
        s.total.spend,
    )
}

/// Every recommendation whose pattern is in the data, largest savings first.
pub fn recommend(stats: &WorkloadStats, catalog: &PriceCatalog) -> Vec<Recommendation> {
    let mut recs: Vec<Recommendation> = [
        right_sizing(stats, catalog),
        prompt_caching(stats, catalog),
        batch_api(stats, catalog),
        response_caching(stats),
        output_caps(stats, catalog),
        retry_waste(stats),
    ]
    .into_iter()
    .flatten()
    .collect();
    recs.sort_by(|a, b| {
        b.savings_usd
            .total_cmp(&a.savings_usd)
            .then_with(|| a.kind.cmp(&b.kind))
    });
    recs
}

/// Share of model-call spend on models the catalog does not price (their savings are not
/// computed): (share in percent, the models).
pub fn unpriced(stats: &WorkloadStats, catalog: &PriceCatalog) -> (f64, Vec<String>) {
    let mut spend = 0.0;
    let mut models = Vec::new();
    for m in &stats.models {
        if catalog.get(&m.model).is_none() {
            spend += m.all.spend;
            models.push(m.model.clone());
        }
    }
    let share = if stats.total.spend > 0.0 {
        (spend / stats.total.spend * 1000.0).round() / 10.0
    } else {
        0.0
    };
    (share, models)
}
