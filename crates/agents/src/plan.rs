//! The actions agent: orders recommendations into a plan — quick wins first (savings per
//! day of effort) — with each step's effort and the cumulative savings.
//!
//! Recommendations can touch the same calls, so cumulative savings combine as
//! `spend * (1 - prod(1 - s_i / spend))`, never more than the spend. It prices nothing itself.

use serde::Serialize;
use serde_json::{Value, json};

use super::analysis::usd;
use super::optimize::{Effort, Recommendation};

/// One step of the plan.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Step {
    pub step: usize,
    pub title: String,
    /// The recommendation's `kind`.
    pub recommendation: String,
    pub effort: Effort,
    pub effort_days: u32,
    pub savings_usd: f64,
    pub cumulative_savings_usd: f64,
    pub actions: Vec<String>,
}

/// The ordered plan.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ActionPlan {
    pub steps: Vec<Step>,
    /// The savings of every step together, overlaps discounted.
    pub combined_savings_usd: f64,
    pub combined_savings_pct: f64,
    pub total_effort_days: u32,
    pub inputs: Value,
}

fn actions_for(kind: &str) -> Vec<String> {
    let v: &[&str] = match kind {
        "response_caching" => &[
            "key a cache on (provider, model, prompt hash) in front of the model client",
            "set a TTL that matches how often the answers may change",
            "measure the hit rate for a week",
        ],
        "output_caps" => &[
            "set max_tokens per feature near the p95 in the recommendation",
            "ask for concise answers in the prompt",
            "watch finish_reason = length for answers cut short",
        ],
        "prompt_caching" => &[
            "move the stable part of the prompt (system prompt, instructions, shared context) to the front",
            "enable the provider's prompt caching (cache_control for Anthropic; automatic for OpenAI beyond 1,024 tokens)",
            "check cache_read_tokens in the logs",
        ],
        "batch_api" => &[
            "collect the non-interactive calls into batch files",
            "submit through the provider's batch endpoint and poll for results",
            "move the consumers of those results to the asynchronous flow",
        ],
        "right_sizing" => &[
            "sample 200 short calls and replay them on the substitute model",
            "compare answers (human review or an evaluation set)",
            "route short calls to the substitute behind a flag, then widen",
        ],
        "retry_waste" => &[
            "break failures down by error type and feature",
            "fix the dominant cause (timeouts, context length, rate limits)",
            "cap retries and add backoff",
        ],
        _ => &[],
    };
    v.iter().map(|s| s.to_string()).collect()
}

/// Order `recs` into a plan against a dataset spend of `spend` USD.
pub fn plan(recs: &[Recommendation], spend: f64) -> ActionPlan {
    let mut order: Vec<&Recommendation> = recs.iter().collect();
    order.sort_by(|a, b| {
        let ra = a.savings_usd / f64::from(a.effort_days.max(1));
        let rb = b.savings_usd / f64::from(b.effort_days.max(1));
        rb.total_cmp(&ra).then_with(|| a.kind.cmp(&b.kind))
    });
    let mut remaining = 1.0f64;
    let mut steps = Vec::new();
    for (i, r) in order.iter().enumerate() {
        if spend > 0.0 {
            remaining *= 1.0 - (r.savings_usd / spend).clamp(0.0, 1.0);
        }
        steps.push(Step {
            step: i + 1,
            title: r.title.clone(),
            recommendation: r.kind.clone(),
            effort: r.effort,
            effort_days: r.effort_days,
            savings_usd: r.savings_usd,
            cumulative_savings_usd: usd(spend * (1.0 - remaining)),
            actions: actions_for(&r.kind),
        });
    }
    let combined = usd(spend * (1.0 - remaining));
    ActionPlan {
        combined_savings_usd: combined,
        combined_savings_pct: if spend > 0.0 {
            (combined / spend * 1000.0).round() / 10.0
        } else {
            0.0
        },
        total_effort_days: steps.iter().map(|s| s.effort_days).sum(),
        steps,
        inputs: json!({
            "order": "savings_usd / effort_days, descending (quick wins first)",
            "cumulative": "spend * (1 - prod(1 - savings_i / spend)): overlapping recommendations are not counted twice",
            "spend_usd": usd(spend),
        }),
    }
}
