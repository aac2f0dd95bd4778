//! The report as markdown: the sections in order, their tables, the prices used.

use super::*;

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
        if let Some(line) = super::accounting(o) {
            let _ = writeln!(out, "{line}\n");
        }
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
