//! Running an agent: the supervisor's routing by data sufficiency, the stages in order, and
//! the seven events of every run (`agent_started`, then per stage `agent_thinking`,
//! `tool_executing`, `tool_completed`, `partial_result`, then `final_report` and
//! `agent_completed`; `agent_error` ends a failed run instead).
//!
//! Both faces run agents through the core's run driver, which keeps the run in the store's
//! `runs` table (kind `agent`) with [`run_result`] as its result, so it can be read after
//! the server restarts.

use std::time::Instant;

use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use super::analysis::{self, CostAnalysis, WorkloadStats};
use super::narrator::{DETERMINISTIC, Narrator};
use super::optimize::{self, Recommendation};
use super::plan::{self, ActionPlan};
use super::report::{self, Report};
use super::triage::{self, Sufficiency, Triage};
use super::{AgentError, AgentKind, Stage, dataset_names, require_dataset};
use apex_core::events::{EventSink, truncate_chars};
use apex_core::pricing::PriceCatalog;
use apex_store::Store;

/// What to run, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct AgentRequest {
    pub agent: AgentKind,
    /// The user's request, in their words (may be empty).
    pub request: String,
    pub dataset: Option<String>,
}

impl AgentRequest {
    pub fn params(&self) -> Value {
        json!({"agent": self.agent.name(), "request": self.request, "dataset": self.dataset})
    }
}

/// A validated request: the stages to run and the dataset's size.
struct Prepared {
    stages: Vec<Stage>,
    records: Option<u64>,
}

fn prepare(store: &Store, req: &AgentRequest) -> Result<Prepared, AgentError> {
    let records = match &req.dataset {
        Some(name) if !name.trim().is_empty() => {
            Some(require_dataset(store, name.trim())?.record_count)
        }
        _ => None,
    };
    if records.is_none() && !matches!(req.agent, AgentKind::Supervisor | AgentKind::Triage) {
        return Err(AgentError::DatasetRequired {
            agent: req.agent.name().into(),
            available: dataset_names(store)?,
        });
    }
    let stages = if req.agent == AgentKind::Supervisor {
        match sufficiency(records) {
            Sufficiency::Enough => req.agent.stages().to_vec(),
            Sufficiency::Partial => vec![Stage::Triage, Stage::Data, Stage::Reporting],
            Sufficiency::None => vec![Stage::Triage, Stage::Reporting],
        }
    } else {
        req.agent.stages().to_vec()
    };
    Ok(Prepared { stages, records })
}

fn sufficiency(records: Option<u64>) -> Sufficiency {
    match records {
        None | Some(0) => Sufficiency::None,
        Some(n) if n < triage::ENOUGH_RECORDS => Sufficiency::Partial,
        Some(_) => Sufficiency::Enough,
    }
}

/// Everything the stages have produced so far.
#[derive(Default)]
struct State {
    triage: Option<Triage>,
    stats: Option<WorkloadStats>,
    analysis: Option<CostAnalysis>,
    recommendations: Vec<Recommendation>,
    optimized: bool,
    plan: Option<ActionPlan>,
    summary: Option<(String, String, Option<String>)>,
}

fn tool_name(stage: Stage) -> &'static str {
    match stage {
        Stage::Triage => "classify_request",
        Stage::Data => "aggregate_workload",
        Stage::Optimization => "price_recommendations",
        Stage::Actions => "plan_actions",
        Stage::Reporting => "write_report",
    }
}

fn reasoning(stage: Stage, req: &AgentRequest) -> String {
    let ds = req.dataset.as_deref().unwrap_or("(none)");
    match stage {
        Stage::Triage => "Classifying the request and checking whether the dataset suffices".into(),
        Stage::Data => format!(
            "Aggregating dataset {ds}: spend by provider, model, feature, tenant and day; percentiles; failures; anomalies; repeated prompts"
        ),
        Stage::Optimization => {
            "Pricing each optimization pattern found in the data against the price catalog".into()
        }
        Stage::Actions => "Ordering the recommendations into a plan, quick wins first".into(),
        Stage::Reporting => {
            "Writing the report: executive summary, breakdown, recommendations, plan, confidence"
                .into()
        }
    }
}

/// Run one stage; returns (short result, partial content).
#[allow(clippy::too_many_arguments)]
fn run_stage(
    stage: Stage,
    store: &Store,
    catalog: &PriceCatalog,
    req: &AgentRequest,
    records: Option<u64>,
    narrator: &dyn Narrator,
    st: &mut State,
    cancel: &CancellationToken,
) -> Result<(String, String), AgentError> {
    match stage {
        Stage::Triage => {
            let t = triage::triage(&req.request, records, narrator);
            let short = format!("category {}, data {:?}", t.category, t.data).to_lowercase();
            let content = format!(
                "Request classified as {} (by {}); data: {}",
                t.category,
                t.classified_by,
                t.reasons.join("; ")
            );
            st.triage = Some(t);
            Ok((short, content))
        }
        Stage::Data => {
            let ds = req.dataset.as_deref().unwrap_or_default();
            let stats = analysis::collect(store, ds, true, cancel)?;
            let a = analysis::cost_analysis(&stats);
            let o = &a.overview;
            let short = format!(
                "{} model calls, spend ${:.2} ({} queries in {} ms){}",
                o.model_calls,
                o.spend_usd,
                stats.queries,
                stats.scan_ms,
                if stats.warnings.is_empty() {
                    String::new()
                } else {
                    format!("; {} unreadable part(s) skipped", stats.warnings.len())
                }
            );
            let content = format!(
                "{} records, {} model calls, spend ${:.2} over {} day(s); {} failed calls costing ${:.2}; {} repeated prompts; {} anomalous day(s)",
                o.records,
                o.model_calls,
                o.spend_usd,
                o.days,
                o.failed_calls,
                o.failed_cost_usd,
                a.duplicates.repeats,
                a.anomalies.days.len()
            );
            st.stats = Some(stats);
            st.analysis = Some(a);
            Ok((short, content))
        }
        Stage::Optimization => {
            let stats = st
                .stats
                .as_ref()
                .ok_or_else(|| AgentError::Invalid("optimization needs the data stage".into()))?;
            st.recommendations = optimize::recommend(stats, catalog);
            st.optimized = true;
            let total: f64 = st.recommendations.iter().map(|r| r.savings_usd).sum();
            let kinds: Vec<&str> = st.recommendations.iter().map(|r| r.kind.as_str()).collect();
            Ok((
                format!("{} recommendation(s)", st.recommendations.len()),
                if kinds.is_empty() {
                    "No optimization pattern found in the data".into()
                } else {
                    format!("{} (individual savings sum ${total:.2})", kinds.join(", "))
                },
            ))
        }
        Stage::Actions => {
            let spend = st.stats.as_ref().map(|s| s.total.spend).unwrap_or(0.0);
            let p = plan::plan(&st.recommendations, spend);
            let short = format!(
                "{} step(s), combined ${:.2}",
                p.steps.len(),
                p.combined_savings_usd
            );
            let content = p
                .steps
                .iter()
                .map(|s| format!("{}. {} (${:.2})", s.step, s.title, s.savings_usd))
                .collect::<Vec<_>>()
                .join("; ");
            st.plan = Some(p);
            Ok((
                short,
                if content.is_empty() {
                    "Nothing to plan".into()
                } else {
                    content
                },
            ))
        }
        Stage::Reporting => {
            let prompt = report::summary_prompt(
                &req.request,
                st.triage.as_ref(),
                st.analysis.as_ref(),
                &st.recommendations,
                st.optimized,
                st.plan.as_ref(),
            );
            let (text, by, note) = report::narrate_summary(narrator, &prompt);
            let short = format!("summary by {by}");
            let content = truncate_chars(&text, 400);
            st.summary = Some((text, by, note));
            Ok((short, content))
        }
    }
}

fn build_report(req: &AgentRequest, stages: &[Stage], catalog: &PriceCatalog, st: State) -> Report {
    let (unpriced_share, unpriced_models) = st
        .stats
        .as_ref()
        .map(|s| optimize::unpriced(s, catalog))
        .unwrap_or((0.0, Vec::new()));
    let confidence = report::confidence(st.stats.as_ref(), unpriced_share, st.triage.as_ref());
    let (summary, narrator, note) = st.summary.unwrap_or_else(|| {
        let p = report::summary_prompt(
            &req.request,
            st.triage.as_ref(),
            st.analysis.as_ref(),
            &st.recommendations,
            st.optimized,
            st.plan.as_ref(),
        );
        (p.deterministic, DETERMINISTIC.into(), None)
    });
    let prices = report::prices_used(
        st.stats
            .iter()
            .flat_map(|s| s.models.iter().map(|m| m.model.as_str())),
        &st.recommendations,
        catalog,
    );
    let mut notes: Vec<String> = report::unchecked_prices_note(&prices).into_iter().collect();
    if let Some(a) = &st.analysis {
        notes.extend(a.warnings.iter().map(|w| format!("Warning: {w}")));
        notes.extend(report::accounting(&a.overview));
    }
    if !unpriced_models.is_empty() {
        notes.push(format!(
            "Models missing from the price catalog ({unpriced_share}% of spend) get no priced recommendation: {}",
            unpriced_models.join(", ")
        ));
    }
    if st.analysis.is_some() && stages.iter().all(|s| *s != Stage::Optimization) {
        notes.push("No recommendations were priced: the data is too thin for them or this agent does not price them.".into());
    }
    let data_to_collect = match &st.triage {
        Some(t) => t.data_to_collect.clone(),
        None if st
            .analysis
            .as_ref()
            .is_some_and(|a| a.overview.records == 0) =>
        {
            triage::data_to_collect()
        }
        None => Vec::new(),
    };
    let nothing = st
        .analysis
        .as_ref()
        .is_some_and(|a| a.overview.records == 0);
    if nothing {
        notes.push("The dataset holds no records: there is nothing to analyse.".into());
    }
    Report {
        title: match &req.dataset {
            Some(d) => format!("Workload cost report: {d}"),
            None => "Workload cost report: no data yet".into(),
        },
        agent: req.agent.name().into(),
        request: req.request.clone(),
        dataset: req.dataset.clone(),
        pipeline: stages.iter().map(|s| s.name().to_string()).collect(),
        triage: st.triage,
        narrator,
        executive_summary: summary,
        narrator_note: note,
        cost_analysis: st.analysis,
        recommendations: st.recommendations,
        action_plan: st.plan,
        confidence,
        data_to_collect,
        notes,
        prices,
    }
}

/// Run an agent, reporting through `sink`. Unknown datasets and missing required datasets
/// are refused before any event is emitted.
pub fn run_agent(
    store: &Store,
    catalog: &PriceCatalog,
    req: &AgentRequest,
    narrator: &dyn Narrator,
    sink: &dyn EventSink,
    cancel: &CancellationToken,
) -> Result<Report, AgentError> {
    let prepared = prepare(store, req)?;
    execute(store, catalog, req, prepared, narrator, sink, cancel)
}

fn execute(
    store: &Store,
    catalog: &PriceCatalog,
    req: &AgentRequest,
    prepared: Prepared,
    narrator: &dyn Narrator,
    sink: &dyn EventSink,
    cancel: &CancellationToken,
) -> Result<Report, AgentError> {
    let started = Instant::now();
    let agent = req.agent.name();
    let stages = prepared.stages;
    sink.expect_total(3 + 4 * stages.len() as u64);
    sink.emit(
        "agent_started",
        json!({
            "agent": agent,
            "request": req.request,
            "context": {"dataset": req.dataset, "options": {"stages": stages.iter().map(|s| s.name()).collect::<Vec<_>>(), "narrator": narrator.name()}},
            "message": format!("{agent} started: {}", stages.iter().map(|s| s.name()).collect::<Vec<_>>().join(" -> ")),
        }),
    );
    let mut st = State::default();
    for (i, stage) in stages.iter().enumerate() {
        let fail = |e: AgentError| {
            sink.emit(
                "agent_error",
                json!({"agent": agent, "error": e.to_string(), "step": stage.name(), "recoverable": e.recoverable()}),
            );
            e
        };
        if cancel.is_cancelled() {
            return Err(fail(AgentError::Cancelled));
        }
        sink.emit(
            "agent_thinking",
            json!({
                "agent": agent,
                "reasoning": reasoning(*stage, req),
                "step_number": i + 1,
                "progress_percentage": (i * 100 / stages.len()) as u64,
            }),
        );
        let tool = tool_name(*stage);
        sink.emit(
            "tool_executing",
            json!({"agent": stage.name(), "tool_name": tool, "parameters": {"dataset": req.dataset, "request": req.request}}),
        );
        let t0 = Instant::now();
        let (short, content) = run_stage(
            *stage,
            store,
            catalog,
            req,
            prepared.records,
            narrator,
            &mut st,
            cancel,
        )
        .map_err(fail)?;
        // Cancelled while the stage ran (the narrator may have waited on the client): no
        // report comes of it.
        if cancel.is_cancelled() {
            return Err(fail(AgentError::Cancelled));
        }
        sink.emit(
            "tool_completed",
            json!({"agent": stage.name(), "tool_name": tool, "result": short, "execution_time_ms": t0.elapsed().as_millis() as u64}),
        );
        sink.emit(
            "partial_result",
            json!({"agent": stage.name(), "content": content, "is_complete": i + 1 == stages.len()}),
        );
    }
    let report = build_report(req, &stages, catalog, st);
    let markdown = report::markdown(&report);
    let total_ms = started.elapsed().as_millis() as u64;
    sink.emit(
        "final_report",
        json!({
            "agent": agent,
            "report": markdown,
            "executive_summary": report.executive_summary,
            "cost_analysis": report.cost_analysis,
            "recommendations": report.recommendations,
            "action_plan": report.action_plan,
            "total_duration_ms": total_ms,
            "narrator": report.narrator,
        }),
    );
    let savings = report.action_plan.as_ref().map(|p| p.combined_savings_usd);
    sink.emit(
        "agent_completed",
        json!({
            "agent": agent,
            "status": "completed",
            "result": match savings {
                Some(s) => format!("{} recommendation(s), combined savings ${s:.2}", report.recommendations.len()),
                None => format!("report on {}", req.dataset.as_deref().unwrap_or("no data")),
            },
            "execution_time_ms": started.elapsed().as_millis() as u64,
        }),
    );
    Ok(report)
}

/// The stored result of a finished agent run.
pub fn run_result(report: &Report) -> Value {
    json!({"report": report, "markdown": report::markdown(report)})
}

/// Check a request without running it (unknown agent, unknown or missing dataset).
pub fn validate(store: &Store, req: &AgentRequest) -> Result<(), AgentError> {
    prepare(store, req).map(|_| ())
}
