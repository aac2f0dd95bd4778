//! Library tests of the agents over the hand-made fixture in tests/fixtures/agents/, whose
//! totals are known by construction (see make_workload.py there).

use std::path::PathBuf;
use std::sync::Arc;

use serde_json::Value;
use tokio_util::sync::CancellationToken;

use super::analysis::Dimension;
use super::ingest::{Format as LogFormat, IngestReport, IngestRequest, ingest};
use super::narrator::{DeterministicNarrator, Narration, PreparedNarrator};
use super::*;
use apex_core::events::{CollectingSink, NullSink};
use apex_core::pricing::PriceCatalog;
use apex_store::Store;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/agents")
        .join(name)
}

fn ingest_file(
    store: &Store,
    path: &std::path::Path,
    format: LogFormat,
    dataset: &str,
) -> Result<IngestReport, AgentError> {
    let req = IngestRequest {
        path,
        format,
        dataset,
        columns: Default::default(),
    };
    ingest(
        store,
        PriceCatalog::builtin(),
        &req,
        &NullSink,
        &CancellationToken::new(),
    )
}

fn store_with_fixture() -> (tempfile::TempDir, Arc<Store>) {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(Store::open(&dir.path().join("apex.db")).unwrap());
    let r = ingest_file(
        &store,
        &fixture("workload.jsonl"),
        LogFormat::Auto,
        "fixture",
    )
    .unwrap();
    assert_eq!(
        (r.parsed.accepted, r.parsed.rejected),
        (155, 0),
        "{:?}",
        r.parsed.rejections
    );
    (dir, store)
}

fn supervisor(
    store: &Store,
    dataset: Option<&str>,
    narrator: &dyn narrator::Narrator,
) -> (Report, CollectingSink) {
    let sink = CollectingSink::new();
    let req = AgentRequest {
        agent: AgentKind::Supervisor,
        request: "How can we reduce our LLM spend?".into(),
        dataset: dataset.map(String::from),
    };
    let report = run_agent(
        store,
        PriceCatalog::builtin(),
        &req,
        narrator,
        &sink,
        &CancellationToken::new(),
    )
    .unwrap();
    (report, sink)
}

fn rec<'a>(r: &'a Report, kind: &str) -> Option<&'a optimize::Recommendation> {
    r.recommendations.iter().find(|x| x.kind == kind)
}

#[test]
fn the_fixture_report_has_the_known_totals_and_exactly_the_patterns_present() {
    let (_d, store) = store_with_fixture();
    let (report, _) = supervisor(&store, Some("fixture"), &DeterministicNarrator);
    assert_eq!(
        report.pipeline,
        ["triage", "data", "optimization", "actions", "reporting"]
    );
    assert_eq!(
        report.triage.as_ref().unwrap().category,
        "cost_optimization"
    );
    let a = report.cost_analysis.as_ref().unwrap();
    assert_eq!((a.overview.records, a.overview.model_calls), (155, 150));
    assert_eq!(a.overview.spend_usd, 3.63);
    assert_eq!(
        (a.overview.failed_calls, a.overview.failed_cost_usd),
        (8, 0.1)
    );
    let models: Vec<(String, u64, f64)> = a
        .breakdown(Dimension::Model)
        .unwrap()
        .rows
        .iter()
        .map(|r| (r.key.clone(), r.calls, r.spend_usd))
        .collect();
    assert_eq!(
        models,
        vec![
            ("claude-sonnet-4-5".to_string(), 47, 2.9),
            ("gpt-4o".to_string(), 73, 0.7),
            ("gpt-4o-mini".to_string(), 30, 0.03)
        ]
    );
    let providers: Vec<(String, f64)> = a
        .breakdown(Dimension::Provider)
        .unwrap()
        .rows
        .iter()
        .map(|r| (r.key.clone(), r.spend_usd))
        .collect();
    assert_eq!(
        providers,
        vec![("anthropic".into(), 2.9), ("openai".into(), 0.73)]
    );
    assert_eq!(a.breakdown(Dimension::Day).unwrap().rows.len(), 14);
    assert_eq!(
        (a.duplicates.repeats, a.duplicates.repeat_cost_usd),
        (9, 0.09)
    );
    let anomalous: Vec<&str> = a.anomalies.days.iter().map(|d| d.day.as_str()).collect();
    assert_eq!(anomalous, vec!["2026-01-10"]);

    let cat = PriceCatalog::builtin();
    let rs = rec(&report, "right_sizing").expect("right-sizing present");
    let want = 70.0
        * (cat.cost("gpt-4o", 500, 100, 0, 0).unwrap()
            - cat.cost("gpt-4o-mini", 500, 100, 0, 0).unwrap());
    assert_eq!((rs.affected_calls, rs.current_cost_usd), (70, 0.7));
    assert!(
        (rs.savings_usd - want).abs() < 1e-6,
        "{} vs {want}",
        rs.savings_usd
    );
    let pc = rec(&report, "prompt_caching").expect("prompt caching present");
    let p = cat.get("claude-sonnet-4-5").unwrap();
    let want = (26.0 * 3000.0 * (p.input - p.cache_read)
        - 14.0 * 3000.0 * (p.cache_write - p.input))
        / 1e6;
    assert_eq!((pc.affected_calls, pc.current_cost_usd), (40, 0.8));
    assert!(
        (pc.savings_usd - want).abs() < 1e-6,
        "{} vs {want}",
        pc.savings_usd
    );
    let rc = rec(&report, "response_caching").expect("response caching present");
    assert_eq!((rc.affected_calls, rc.savings_usd), (9, 0.09));
    let rw = rec(&report, "retry_waste").expect("retry waste present");
    assert_eq!((rw.affected_calls, rw.savings_usd), (5, 0.1));
    let b = rec(&report, "batch_api").expect("batch present");
    assert_eq!((b.affected_calls, b.current_cost_usd), (30, 0.03));
    assert!(
        rec(&report, "output_caps").is_none(),
        "no model has a long output tail here"
    );
    for r in &report.recommendations {
        assert!(
            r.savings_usd <= r.current_cost_usd && r.savings_usd > 0.0,
            "{r:?}"
        );
        assert!(!r.sql.is_empty(), "{} has no SQL", r.kind);
    }
    let plan = report.action_plan.as_ref().unwrap();
    assert_eq!(plan.steps.len(), 5);
    assert!(plan.combined_savings_usd <= a.overview.spend_usd);
    assert!(
        plan.combined_savings_usd
            <= report
                .recommendations
                .iter()
                .map(|r| r.savings_usd)
                .sum::<f64>()
                + 1e-9
    );
    let md = report::markdown(&report);
    assert!(
        md.contains("## Executive summary")
            && md.contains("## Action plan")
            && md.contains("narrator: deterministic"),
        "{md}"
    );
}

/// With the longest time bound: the whole suite on 2 cores can make a query take over the default 5 s.
fn query_f64(store: &Store, sql: &str, col: usize) -> Vec<Value> {
    let r = data::query_data(store, sql, Some(1000), Some(30_000)).unwrap();
    r.rows.into_iter().map(|row| row[col].clone()).collect()
}

#[test]
fn every_cited_query_reproduces_its_figure() {
    let (_d, store) = store_with_fixture();
    let (report, _) = supervisor(&store, Some("fixture"), &DeterministicNarrator);
    let a = report.cost_analysis.as_ref().unwrap();
    let total = query_f64(&store, &a.overview.sql, 2);
    assert!((total[0].as_f64().unwrap() - a.overview.spend_usd).abs() < 1e-9);
    for b in &a.breakdowns {
        let key_cols = if b.dimension == Dimension::Model {
            2
        } else {
            1
        };
        let spend = query_f64(&store, &b.sql, key_cols + 1);
        let calls = query_f64(&store, &b.sql, key_cols);
        for (i, row) in b.rows.iter().enumerate() {
            assert_eq!(calls[i].as_u64().unwrap(), row.calls, "{:?}", b.dimension);
            assert!(
                (spend[i].as_f64().unwrap() - row.spend_usd).abs() < 1e-9,
                "{:?}",
                b.dimension
            );
        }
    }
    for p in &a.percentiles {
        for (name, sql) in &p.sql {
            // FLOOR gives a float column; the figure is its whole number of ms
            let v = query_f64(&store, sql, 0)[0].as_f64().unwrap();
            let want = match name.as_str() {
                "p50" => p.p50,
                "p90" => p.p90,
                "p95" => p.p95,
                _ => p.p99,
            };
            assert_eq!(v, want as f64, "{} {} {name}", p.metric, p.scope);
        }
    }
    let dup = query_f64(&store, &a.duplicates.sql, 4);
    assert_eq!(dup[0].as_u64().unwrap(), a.duplicates.repeats);
    let pc = rec(&report, "prompt_caching").unwrap();
    let r = data::query_data(&store, &pc.sql[0], Some(100), Some(30_000)).unwrap();
    let row = r.rows.iter().find(|row| row[2] == "rag_answer").unwrap();
    assert_eq!(
        (row[3].as_u64(), row[5].as_u64(), row[7].as_u64()),
        (Some(40), Some(3000), Some(14))
    );
    let rs = rec(&report, "right_sizing").unwrap();
    let r = data::query_data(&store, &rs.sql[0], Some(100), Some(30_000)).unwrap();
    assert_eq!(r.rows.len(), 1);
    assert_eq!(r.rows[0][2].as_u64(), Some(70));
    assert!((r.rows[0][3].as_f64().unwrap() - 0.7).abs() < 1e-9);
    let rw = rec(&report, "retry_waste").unwrap();
    let cost = query_f64(&store, &rw.sql[0], 4);
    assert!((cost[0].as_f64().unwrap() - 0.1).abs() < 1e-9);
}

#[test]
fn events_follow_the_contract_in_order() {
    let (_d, store) = store_with_fixture();
    let (_, sink) = supervisor(&store, Some("fixture"), &DeterministicNarrator);
    let names = sink.names();
    let mut want = vec!["agent_started".to_string()];
    for _ in 0..5 {
        for e in [
            "agent_thinking",
            "tool_executing",
            "tool_completed",
            "partial_result",
        ] {
            want.push(e.into());
        }
    }
    want.push("final_report".into());
    want.push("agent_completed".into());
    assert_eq!(names, want);
    let events = sink.events();
    for (name, data) in &events {
        assert!(data.get("agent").is_some(), "{name} lacks agent");
        let keys: &[&str] = match name.as_str() {
            "agent_started" => &["request", "context", "message"],
            "agent_thinking" => &["reasoning", "step_number", "progress_percentage"],
            "tool_executing" => &["tool_name", "parameters"],
            "tool_completed" => &["tool_name", "result", "execution_time_ms"],
            "partial_result" => &["content", "is_complete"],
            "final_report" => &[
                "report",
                "executive_summary",
                "cost_analysis",
                "recommendations",
                "action_plan",
                "total_duration_ms",
                "narrator",
            ],
            "agent_completed" => &["status", "result", "execution_time_ms"],
            _ => &[],
        };
        for k in keys {
            assert!(data.get(*k).is_some(), "{name} lacks {k}");
        }
    }
    assert_eq!(events.last().unwrap().1["status"], "completed");
}

#[test]
fn sufficiency_routes_the_supervisor() {
    let (_d, store) = store_with_fixture();
    // none: no dataset
    let (r, sink) = supervisor(&store, None, &DeterministicNarrator);
    assert_eq!(r.pipeline, ["triage", "reporting"]);
    assert!(!r.data_to_collect.is_empty());
    assert!(
        r.executive_summary.contains("nothing to analyse"),
        "{}",
        r.executive_summary
    );
    assert_eq!(sink.names().len(), 3 + 4 * 2);
    // none: an empty dataset
    apex_datasets::write::write_batches(&store, "empty", "ingested", &[]).unwrap();
    let (r, _) = supervisor(&store, Some("empty"), &DeterministicNarrator);
    assert_eq!(r.pipeline, ["triage", "reporting"]);
    assert!(report::markdown(&r).contains("nothing to analyse"));
    // partial: a handful of records
    let dir = tempfile::tempdir().unwrap();
    let small = dir.path().join("small.jsonl");
    let text = std::fs::read_to_string(fixture("workload.jsonl")).unwrap();
    std::fs::write(&small, text.lines().take(20).collect::<Vec<_>>().join("\n")).unwrap();
    ingest_file(&store, &small, LogFormat::Jsonl, "small").unwrap();
    let (r, _) = supervisor(&store, Some("small"), &DeterministicNarrator);
    assert_eq!(r.pipeline, ["triage", "data", "reporting"]);
    assert!(r.recommendations.is_empty() && r.cost_analysis.is_some());
}

#[test]
fn unknown_names_list_what_exists() {
    let (_d, store) = store_with_fixture();
    let e = AgentKind::parse("wizard").unwrap_err().to_string();
    assert!(e.contains("supervisor") && e.contains("reporting"), "{e}");
    let req = AgentRequest {
        agent: AgentKind::Data,
        request: String::new(),
        dataset: Some("nope".into()),
    };
    let sink = CollectingSink::new();
    let e = run_agent(
        &store,
        PriceCatalog::builtin(),
        &req,
        &DeterministicNarrator,
        &sink,
        &CancellationToken::new(),
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("`nope` does not exist") && e.contains("fixture"),
        "{e}"
    );
    assert!(sink.names().is_empty());
    let req = AgentRequest {
        dataset: None,
        ..req
    };
    let e = run_agent(
        &store,
        PriceCatalog::builtin(),
        &req,
        &DeterministicNarrator,
        &sink,
        &CancellationToken::new(),
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("needs a dataset") && e.contains("fixture"),
        "{e}"
    );
}

#[test]
fn the_narrator_writes_the_summary_only_with_known_figures() {
    let (_d, store) = store_with_fixture();
    let llm = PreparedNarrator {
        classification: None,
        summary: Some(Narration { text: "Spend is concentrated on one Anthropic model; caching and right-sizing are the quick wins.".into(), model: "test-llm".into() }),
    };
    let (r, sink) = supervisor(&store, Some("fixture"), &llm);
    assert_eq!(r.narrator, "test-llm");
    assert!(r.executive_summary.starts_with("Spend is concentrated"));
    let fin = sink
        .events()
        .into_iter()
        .find(|e| e.0 == "final_report")
        .unwrap()
        .1;
    assert_eq!(fin["narrator"], "test-llm");
    let liar = PreparedNarrator {
        classification: None,
        summary: Some(Narration {
            text: "You will save $12,345 next month.".into(),
            model: "test-llm".into(),
        }),
    };
    let (r, _) = supervisor(&store, Some("fixture"), &liar);
    assert_eq!(r.narrator, "deterministic");
    assert!(
        r.narrator_note.as_deref().unwrap_or("").contains("12345"),
        "{:?}",
        r.narrator_note
    );
}

/// Run an agent through the run driver, as both faces do.
async fn driven(
    store: &Arc<Store>,
    req: AgentRequest,
    cancel_first: bool,
) -> (String, Result<crate::Report, AgentError>) {
    let driver = apex_core::run::RunDriver::new(store.clone());
    let run = driver
        .begin(apex_core::run::RunKind::Agent, req.params(), None)
        .unwrap();
    let id = run.id().to_string();
    if cancel_first {
        run.cancel_token().cancel();
    }
    let store = store.clone();
    let out = run
        .blocking(move |sink, cancel| {
            crate::run_agent(
                &store,
                PriceCatalog::builtin(),
                &req,
                &DeterministicNarrator,
                sink,
                cancel,
            )
        })
        .await
        .unwrap();
    (id, out)
}

#[tokio::test]
async fn cancellation_ends_with_agent_error() {
    // The fixture's ingest queries the engine, which blocks: not on an async worker.
    let (_d, store) = tokio::task::spawn_blocking(store_with_fixture)
        .await
        .unwrap();
    let req = AgentRequest {
        agent: AgentKind::Supervisor,
        request: "x".into(),
        dataset: Some("fixture".into()),
    };
    let (id, out) = driven(&store, req, true).await;
    assert!(matches!(out, Err(AgentError::Cancelled)));
    let names: Vec<String> = apex_store::runs::events(&store, &id, 0)
        .unwrap()
        .into_iter()
        .map(|e| e.event)
        .collect();
    assert_eq!(names, vec!["agent_started", "agent_error"]);
    let run = apex_store::runs::get_run(&store, &id).unwrap().unwrap();
    assert_eq!(run.status, "cancelled");
}

#[tokio::test]
async fn recorded_runs_keep_their_report() {
    // The fixture's ingest queries the engine, which blocks: not on an async worker.
    let (_d, store) = tokio::task::spawn_blocking(store_with_fixture)
        .await
        .unwrap();
    let req = AgentRequest {
        agent: AgentKind::Optimization,
        request: "".into(),
        dataset: Some("fixture".into()),
    };
    let (id, out) = driven(&store, req, false).await;
    assert_eq!(out.unwrap().pipeline, ["data", "optimization"]);
    let run = apex_store::runs::get_run(&store, &id).unwrap().unwrap();
    assert_eq!(
        (run.kind.as_str(), run.status.as_str()),
        ("agent", "completed")
    );
    assert_eq!(
        run.result.unwrap()["report"]["recommendations"]
            .as_array()
            .unwrap()
            .len(),
        5
    );
    assert_eq!(
        apex_store::runs::events(&store, &id, 0).unwrap().len(),
        3 + 4 * 2
    );
}

#[test]
fn describe_dataset_summarizes() {
    let (_d, store) = store_with_fixture();
    let d = data::describe_dataset(&store, "fixture", &CancellationToken::new()).unwrap();
    assert_eq!(
        (d.record_count, d.overview.spend_usd, d.source.as_str()),
        (155, 3.63, "ingested")
    );
    assert_eq!(
        d.overview.first.as_deref(),
        Some("2026-01-01T02:00:00.000Z")
    );
    assert_eq!(d.by_model.rows.len(), 3);
    assert!(d.latency.iter().any(|p| p.scope == "all" && p.count == 150));
    let e = data::describe_dataset(&store, "nope", &CancellationToken::new())
        .unwrap_err()
        .to_string();
    assert!(e.contains("fixture"), "{e}");
}

#[test]
fn otlp_spans_become_records_and_bad_spans_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("apex.db")).unwrap();
    let r = ingest_file(
        &store,
        &fixture("spans.otlp.jsonl"),
        LogFormat::Auto,
        "otlp",
    )
    .unwrap();
    assert_eq!(r.parsed.format, LogFormat::OtlpJson);
    assert_eq!(
        (r.parsed.accepted, r.parsed.rejected, r.parsed.skipped_spans),
        (2, 2, 1)
    );
    assert_eq!(
        (r.parsed.rejections[0].line, r.parsed.rejections[0].span),
        (1, Some(3))
    );
    assert!(
        r.parsed.rejections[0].reason.contains("`model` is missing"),
        "{:?}",
        r.parsed.rejections
    );
    assert_eq!(r.parsed.rejections[1].line, 2);
    assert_eq!(r.parsed.filled.get("cost_usd"), Some(&1));
    let mut recs = Vec::new();
    apex_datasets::read::for_each_batch(&store, "otlp", 10, |b| {
        recs.extend_from_slice(b);
        Ok(())
    })
    .unwrap();
    let ok = &recs[0];
    assert_eq!(
        (
            ok.provider.as_str(),
            ok.model.as_str(),
            ok.tenant.as_str(),
            ok.feature.as_str()
        ),
        ("openai", "gpt-4o", "acme", "support")
    );
    assert_eq!(
        (
            ok.timestamp.as_str(),
            ok.latency_ms,
            ok.finish_reason.as_deref()
        ),
        ("2026-01-01T12:00:01.000Z", 420.0, Some("stop"))
    );
    assert!((ok.cost_usd - (1000.0 * 2.5 + 100.0 * 10.0) / 1e6).abs() < 1e-12);
    let err = &recs[1];
    assert_eq!(
        (err.status.as_str(), err.error_type.as_deref(), err.cost_usd),
        ("error", Some("timeout"), 0.006)
    );
}

#[test]
fn csv_rows_are_checked_field_by_field() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("apex.db")).unwrap();
    let r = ingest_file(&store, &fixture("workload.csv"), LogFormat::Auto, "csv").unwrap();
    assert_eq!((r.parsed.accepted, r.parsed.rejected), (3, 2));
    let got: Vec<(u64, bool)> = r
        .parsed
        .rejections
        .iter()
        .map(|x| {
            (
                x.line,
                x.reason
                    .contains(if x.line == 4 { "fields" } else { "status" }),
            )
        })
        .collect();
    assert_eq!(got, vec![(4, true), (5, true)]);
    // A negative token count is kept as 0 and flagged, never dropped; so are costs far
    // from the catalog price of their tokens.
    assert_eq!(r.parsed.flagged, 2);
    assert_eq!(r.parsed.quality["invalid_tokens"].count, 1);
    assert_eq!(r.parsed.quality["invalid_tokens"].examples[0].line, 3);
    assert_eq!(r.parsed.quality["cost_mismatch"].count, 2);
    // 1M input tokens of gpt-4o-mini priced by the catalog, plus the given 0.1 and 0.5
    let mini = PriceCatalog::builtin().get("gpt-4o-mini").unwrap().input;
    assert!(
        (r.parsed.spend_usd - (mini + 0.6)).abs() < 1e-9,
        "{}",
        r.parsed.spend_usd
    );
    let e = ingest_file(&store, &fixture("make_workload.py"), LogFormat::Csv, "bad")
        .unwrap_err()
        .to_string();
    assert!(e.contains("lacks the column"), "{e}");
    assert!(apex_store::datasets::get(&store, "bad").unwrap().is_none());
}

/// Every synthetic profile carries non-interactive work (a feature marked batch, nightly,
/// offline, bulk or eval), so the batch-API recommendation fires on generated data too, and
/// no recommendation claims more than the spend it touches.
#[test]
fn synthetic_profiles_give_a_batch_recommendation_within_their_spend() {
    let dir = tempfile::tempdir().unwrap();
    let ws = apex_core::workspace::Workspace::open(dir.path(), None).unwrap();
    let store = Store::open(&ws.db_path()).unwrap();
    for profile in apex_synth::list_profiles().unwrap() {
        let name = profile.name.clone();
        let req = apex_synth::GenerateRequest {
            profile: name.clone(),
            count: Some(20_000),
            seed: Some(3),
            format: Some("sqlite".into()),
            dataset: Some(name.clone()),
            ..Default::default()
        };
        apex_synth::generate(
            &ws,
            Some(&store),
            &req,
            &apex_core::events::NullSink,
            &CancellationToken::new(),
        )
        .unwrap();
        // Synth records that no record is a rollup; the look-up agrees, over data where
        // records with usage do have parents (the calls of agentic traces).
        let info = apex_store::datasets::get(&store, &name).unwrap().unwrap();
        let recorded = apex_store::datasets::rollups_of(&store, &info).unwrap();
        assert_eq!(recorded.map(|r| r.records), Some(0), "{name}");
        let engine = open_engine(&store, &[name.as_str()]).unwrap();
        let d = analysis::sql::quote(&name);
        let children = analysis::collect::count_and_sum(
            &engine
                .collect(&format!(
                    "SELECT COUNT(*), 0.0 FROM workload_records WHERE dataset = {d} \
             AND parent_span_id IS NOT NULL AND cost_usd > 0"
                ))
                .unwrap(),
        )
        .unwrap()
        .0;
        assert!(children > 0, "{name}: no parented calls, nothing checked");
        let exact = analysis::collect::count_and_sum(
            &engine.collect(&analysis::sql::rollups(&name)).unwrap(),
        )
        .unwrap();
        assert_eq!(exact, (0, 0.0), "{name}");
        let (report, _) = supervisor(&store, Some(&name), &DeterministicNarrator);
        let b = rec(&report, "batch_api")
            .unwrap_or_else(|| panic!("{name}: no batch_api recommendation"));
        assert!(b.savings_usd > 0.0, "{name}: {b:?}");
        for r in &report.recommendations {
            assert!(
                r.savings_usd <= r.current_cost_usd + 1e-9,
                "{name}: {} saves more than it touches",
                r.kind
            );
        }
    }
}

/// A store with `count` synthetic ecommerce records as dataset `name`.
fn synthetic_dataset(name: &str, count: u64) -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let ws = apex_core::workspace::Workspace::open(dir.path(), None).unwrap();
    let store = Store::open(&ws.db_path()).unwrap();
    let req = apex_synth::GenerateRequest {
        profile: "ecommerce".into(),
        count: Some(count),
        seed: Some(5),
        format: Some("dataset".into()),
        dataset: Some(name.into()),
        ..Default::default()
    };
    apex_synth::generate(
        &ws,
        Some(&store),
        &req,
        &NullSink,
        &CancellationToken::new(),
    )
    .unwrap();
    (dir, store)
}

/// The distributions counted from the calls' stream hold exactly the groups of their SQL
/// (four grouping sets) run by the engine: every value's calls and cost.
#[test]
fn distributions_from_the_stream_equal_their_grouping_sets() {
    type Groups = std::collections::BTreeMap<(u8, String, String, i64), (u64, f64)>;
    let (_dir, store) = synthetic_dataset("d", 30_000);
    let engine = open_engine(&store, &["d"]).unwrap();
    let scope = analysis::sql::Scope {
        dataset: "d",
        rollups: false,
    };
    let sql = analysis::collect::queries(scope, false).remove(2);
    assert!(sql.contains("GROUPING SETS"), "{sql}");
    // (set, provider, model, value) -> (calls, cost), as the SQL groups them
    let mut want = Groups::new();
    for b in engine.collect(&sql).unwrap() {
        for row in apex_datasets::engine::json_rows(&b).unwrap() {
            let flag = |i: usize| num(&row[i]) as i64;
            let text = |i: usize| row[i].as_str().unwrap_or_default().to_string();
            let value = |i: usize| num(&row[i]) as i64;
            let ok = row[9].as_bool() == Some(true);
            // which set: GROUPING() of provider, output_tokens, input_tokens
            let key = match (flag(0), flag(1), flag(2)) {
                (0, 1, _) => (0, text(3), text(4), value(5)),
                (0, 0, _) if ok => (1, text(3), text(4), value(6)),
                (1, 1, 0) if ok => (2, String::new(), String::new(), value(7)),
                (1, 1, 1) if !row[8].is_null() => (3, String::new(), String::new(), value(8)),
                _ => continue,
            };
            // the time to first token is counted, not costed
            let cost = if key.0 == 3 { 0.0 } else { num(&row[11]) };
            let e = want.entry(key).or_default();
            e.0 += num(&row[10]) as u64;
            e.1 += cost;
        }
    }
    let d = analysis::stream::count(&engine, scope, None, None)
        .unwrap()
        .distributions;
    let mut got = Groups::new();
    for ((p, m), latency, output) in &d.models {
        for (set, h) in [(0, latency), (1, output)] {
            for (v, n) in h {
                got.insert((set, p.clone(), m.clone(), *v), *n);
            }
        }
    }
    for (set, h) in [(2, &d.input), (3, &d.ttft)] {
        for (v, n) in h {
            got.insert((set, String::new(), String::new(), *v), *n);
        }
    }
    assert!(want.len() > 1000, "too few groups to check: {}", want.len());
    assert!(
        want.keys().any(|k| k.0 == 3),
        "no time to first token to check"
    );
    let only_got: Vec<_> = got
        .keys()
        .filter(|k| !want.contains_key(k))
        .take(5)
        .collect();
    let only_want: Vec<_> = want
        .keys()
        .filter(|k| !got.contains_key(k))
        .take(5)
        .collect();
    assert!(
        only_got.is_empty() && only_want.is_empty(),
        "groups only counted: {only_got:?}; only in the SQL: {only_want:?}"
    );
    for (k, w) in &want {
        let g = got[k];
        assert_eq!(g.0, w.0, "{k:?}");
        assert!((g.1 - w.1).abs() < 1e-9, "{k:?}: {} vs {}", g.1, w.1);
    }
    // The dataset's latency histogram is the models' summed.
    let models: u64 = want
        .iter()
        .filter(|(k, _)| k.0 == 0)
        .map(|(_, v)| v.0)
        .sum();
    assert_eq!(d.latency.values().map(|v| v.0).sum::<u64>(), models);
}

/// The prompt-prefix groups counted from the calls' stream equal their SQL run by the
/// engine: calls, cost, smallest prompt, cache reads and distinct windows of each group.
#[test]
fn prefix_groups_from_the_stream_equal_their_sql() {
    let (_dir, store) = synthetic_dataset("d", 30_000);
    let engine = open_engine(&store, &["d"]).unwrap();
    let scope = analysis::sql::Scope {
        dataset: "d",
        rollups: false,
    };
    let mut want = Vec::new();
    for b in engine
        .collect(&analysis::sql::prefix_groups(scope))
        .unwrap()
    {
        for row in apex_datasets::engine::json_rows(&b).unwrap() {
            let text = |i: usize| row[i].as_str().unwrap_or_default().to_string();
            let n = |i: usize| num(&row[i]) as u64;
            want.push((
                text(0),
                text(1),
                text(2),
                n(3),
                num(&row[4]),
                n(5),
                n(6),
                n(7),
            ));
        }
    }
    let mut got: Vec<_> = analysis::stream::count(&engine, scope, None, None)
        .unwrap()
        .groups
        .into_iter()
        .map(|g| {
            let p = (g.provider, g.model, g.feature, g.ok_calls, g.ok_spend);
            (
                p.0,
                p.1,
                p.2,
                p.3,
                p.4,
                g.min_input,
                g.cache_read,
                g.cache_windows,
            )
        })
        .collect();
    got.sort_by(|a, b| (&a.0, &a.1, &a.2).cmp(&(&b.0, &b.1, &b.2)));
    assert!(want.len() > 5, "too few groups to check: {want:?}");
    assert!(
        want.iter().any(|w| w.7 > 1),
        "no group with several windows"
    );
    assert_eq!(got.len(), want.len(), "{got:?} vs {want:?}");
    for (g, w) in got.iter().zip(&want) {
        assert_eq!(
            (&g.0, &g.1, &g.2, g.3, g.5, g.6, g.7),
            (&w.0, &w.1, &w.2, w.3, w.5, w.6, w.7)
        );
        assert!((g.4 - w.4).abs() < 1e-9, "{g:?} vs {w:?}");
    }
}

/// The repeated prompts counted in partitions from the calls' stream equal the figure's SQL
/// run by the engine,
/// whether the partitions stay in memory or spill to scratch files on every batch; the
/// scratch directory is gone afterwards.
#[test]
fn repeated_prompts_in_partitions_equal_the_sql_spilled_or_not() {
    let (_dir, store) = synthetic_dataset("d", 60_000);
    let engine = open_engine(&store, &["d"]).unwrap();
    let scope = analysis::sql::Scope {
        dataset: "d",
        rollups: false,
    };
    let mut want: Vec<(String, String, u64, u64, u64, f64)> = Vec::new();
    for b in engine.collect(&analysis::sql::duplicates(scope)).unwrap() {
        for row in apex_datasets::engine::json_rows(&b).unwrap() {
            want.push((
                row[0].as_str().unwrap().to_string(),
                row[1].as_str().unwrap().to_string(),
                num(&row[2]) as u64,
                num(&row[3]) as u64,
                num(&row[4]) as u64,
                num(&row[5]),
            ));
        }
    }
    want.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
    assert!(
        want.iter().map(|w| w.2).sum::<u64>() > 10,
        "too few repeated prompts to check: {want:?}"
    );
    let root = apex_datasets::root_of(&store);
    for budget in [analysis::duplicates::BUDGET, 1] {
        let mut got: Vec<(String, String, u64, u64, u64, f64)> =
            analysis::stream::count(&engine, scope, Some((&root, budget)), None)
                .unwrap()
                .duplicates
                .unwrap()
                .into_iter()
                .map(|d| {
                    (
                        d.provider,
                        d.model,
                        d.repeated_prompts,
                        d.calls,
                        d.repeats,
                        d.repeat_cost_usd,
                    )
                })
                .collect();
        got.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
        assert_eq!(
            got.len(),
            want.len(),
            "budget {budget}: {got:?} vs {want:?}"
        );
        for (g, w) in got.iter().zip(&want) {
            assert_eq!(
                (&g.0, &g.1, g.2, g.3, g.4),
                (&w.0, &w.1, w.2, w.3, w.4),
                "budget {budget}"
            );
            assert!(
                (g.5 - w.5).abs() < 1e-9,
                "budget {budget}: cost {} vs {}",
                g.5,
                w.5
            );
        }
        // (The engine's own spill directory lives as long as the engine.)
        let left: Vec<_> = std::fs::read_dir(root.join(".staging"))
            .map(|d| {
                d.flatten()
                    .map(|e| e.file_name())
                    .filter(|n| !n.to_string_lossy().starts_with("engine-spill."))
                    .collect()
            })
            .unwrap_or_default();
        assert!(left.is_empty(), "scratch left behind: {left:?}");
    }
}

/// The rollup look-up runs once per version of a dataset: an ingest records what it found,
/// later reports read it, and a new version (a replace) is looked up afresh.
#[test]
fn a_version_is_looked_up_for_rollups_once() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("apex.db")).unwrap();
    let r = ingest_file(&store, &fixture("rollups.jsonl"), LogFormat::Auto, "r").unwrap();
    assert_eq!(r.rollup_records, 20);
    let info = apex_store::datasets::get(&store, "r").unwrap().unwrap();
    let recorded = apex_store::datasets::rollups_of(&store, &info)
        .unwrap()
        .unwrap();
    assert_eq!(
        (recorded.records, analysis::usd(recorded.spend_usd)),
        (20, 3.0)
    );
    // Its ids could not prove the absence of rollups (there are some): the engine found them.
    assert_eq!(found_by(&store, "r"), "look-up");
    let cancel = CancellationToken::new();
    let stats = analysis::collect(&store, "r", false, &cancel).unwrap();
    assert_eq!(
        (stats.rollup_records, analysis::usd(stats.rollup_spend)),
        (20, 3.0)
    );
    // The report reads the record rather than joining again: a record says 7, so it says 7.
    let forged = apex_store::datasets::Rollups {
        records: 7,
        spend_usd: 0.07,
    };
    apex_store::datasets::record_rollups(&store, &info, forged, "test").unwrap();
    assert_eq!(
        analysis::collect(&store, "r", false, &cancel)
            .unwrap()
            .rollup_records,
        7
    );
    // A replace is a new version: looked up afresh (the fixture without rollups: 0). Its
    // ingest proved that from the ids it wrote, and counted the calls as it wrote them: the
    // same calls and spend as the report's SQL.
    let r = ingest_file(&store, &fixture("agent_spans.jsonl"), LogFormat::Auto, "r").unwrap();
    assert_eq!(r.rollup_records, 0);
    assert_eq!(found_by(&store, "r"), "ingest");
    let stats = analysis::collect(&store, "r", false, &cancel).unwrap();
    assert_eq!((stats.rollup_records, stats.total.calls), (0, 240));
    assert_eq!(r.model_calls, stats.total.calls);
    assert_eq!(r.parsed.spend_usd, analysis::usd(stats.total.spend));
}

/// One JSON-lines record of trace `trace`: an OpenAI gpt-4o span on day `day` of
/// February 2026 with `tokens` in (a fifth of them out) and `cost`.
fn span_line(
    trace: &str,
    span: &str,
    parent: Option<&str>,
    op: &str,
    day: usize,
    (tokens, cost): (u64, f64),
) -> String {
    let mut r = serde_json::json!({
        "event_id": format!("e-{span}"), "trace_id": trace,
        "span_id": span, "timestamp": format!("2026-02-0{day}T10:00:00Z"),
        "operation": op, "provider": "openai", "model": "gpt-4o", "tenant": "acme",
        "feature": "agent", "workload_type": "tool_use", "input_tokens": tokens,
        "output_tokens": tokens / 5, "latency_ms": 500.0, "status": "ok", "cost_usd": cost,
    });
    if let Some(p) = parent {
        r["parent_span_id"] = p.into();
    }
    format!("{r}\n")
}

/// Dataset "big" of `traces` traces in a new workspace: an agent span with usage whose child
/// call carries usage too, a rollup per trace ($0.002 each; the calls $0.001 each).
fn rollup_traces(traces: usize) -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let ws = apex_core::workspace::Workspace::open(dir.path(), None).unwrap();
    let store = Store::open(&ws.db_path()).unwrap();
    let mut lines = String::new();
    for t in 0..traces {
        let (trace, agent) = (format!("trace-{t:010}"), format!("agent-{t:011}"));
        let day = 1 + t % 5;
        lines += &span_line(&trace, &agent, None, "invoke_agent", day, (100, 0.002));
        let call = format!("call-{t:012}");
        lines += &span_line(&trace, &call, Some(&agent), "chat", day, (100, 0.001));
    }
    let path = dir.path().join("rollups.jsonl");
    std::fs::write(&path, lines).unwrap();
    ingest_file(&store, &path, LogFormat::Auto, "big").unwrap();
    (dir, store)
}

/// A join that does not fit the engine's memory (the rollup look-up, past a few tens of
/// millions of calls at the real budget) is run again with the engine's joins spilling to
/// disk, and finds the same rollups.
#[test]
fn a_join_over_the_memory_budget_spills_and_finds_the_same_rollups() {
    let (_dir, store) = rollup_traces(60_000);
    let rollups = |engine: &apex_datasets::Engine| {
        let run = analysis::collect::runner(engine, None);
        let found = analysis::collect::rollups("big", &run).unwrap();
        let exact = analysis::sql::rollups("big");
        let exact = analysis::collect::count_and_sum(&engine.collect(&exact).unwrap()).unwrap();
        (found, exact)
    };
    let roomy = open_engine(&store, &["big"]).unwrap();
    let found = rollups(&roomy);
    assert_eq!(found.0.0, 60_000);
    assert!((found.0.1 - 120.0).abs() < 1e-6, "{found:?}");
    assert!(
        roomy.spill_joins(),
        "the roomy engine's joins were hashed until now"
    );
    // Too little memory for the hash join's 120k ids, enough for a sort's batches.
    let tight = apex_datasets::Engine::open_for_analysis_within(&store, &["big"], 8 << 20).unwrap();
    let tight_found = rollups(&tight);
    // The same rollups; their spend summed in another order by the engine's SUM.
    for (a, b) in [(tight_found.0, found.0), (tight_found.1, found.1)] {
        assert_eq!(a.0, b.0);
        assert!((a.1 - b.1).abs() < 1e-6, "{a:?} {b:?}");
    }
    assert!(
        !tight.spill_joins(),
        "the tight engine's joins were already spilling"
    );
    // It spilled under the data dir (not the system's temporary directory, often in RAM),
    // and that scratch directory goes with the engine.
    let staging = apex_datasets::root_of(&store).join(".staging");
    let spills = || {
        std::fs::read_dir(&staging)
            .map(|d| {
                d.filter_map(Result::ok)
                    .filter(|e| e.file_name().to_string_lossy().starts_with("engine-spill."))
                    .map(|e| std::fs::read_dir(e.path()).map_or(0, |d| d.count()))
                    .collect::<Vec<_>>()
            })
            .unwrap_or_default()
    };
    assert!(spills().iter().any(|&n| n > 0), "{:?}", spills());
    drop((tight, roomy));
    assert_eq!(spills(), Vec::<usize>::new());
    // Past its budget even spilling: the engine's error, not a wrong answer.
    let tiny = apex_datasets::Engine::open_for_analysis_within(&store, &["big"], 64 << 10).unwrap();
    let run = analysis::collect::runner(&tiny, None);
    let e = analysis::collect::rollups("big", &run)
        .unwrap_err()
        .to_string();
    assert!(e.contains("query engine:") && e.contains("memory"), "{e}");
}

/// The rollup look-up's proof by two scans: no rollups proven where agent spans carry no
/// usage (their children's parents are not calls with usage), not proven where they do (the
/// join then finds them), nor past its most parents held.
#[test]
fn rollups_are_proven_absent_by_scans_or_left_to_the_join() {
    let (_dir, store) = rollup_traces(300);
    let engine = open_engine(&store, &["big"]).unwrap();
    assert!(!analysis::collect::no_rollups_by_scan(&engine, "big", None).unwrap());
    // The same traces with the agent spans' usage gone: 300 parents, none a call with usage.
    let dir = tempfile::tempdir().unwrap();
    let mut lines = String::new();
    for t in 0..300 {
        let (trace, agent, call) = (
            format!("trace-{t}"),
            format!("agent-{t}"),
            format!("call-{t}"),
        );
        lines += &span_line(&trace, &agent, None, "invoke_agent", 1, (0, 0.0));
        lines += &span_line(&trace, &call, Some(&agent), "chat", 1, (10, 0.001));
        // A child without usage: its parent is not one the proof holds.
        let tool = format!("tool-{t}");
        lines += &span_line(&trace, &tool, Some(&call), "execute_tool", 1, (0, 0.0));
    }
    let path = dir.path().join("calls.jsonl");
    std::fs::write(&path, lines).unwrap();
    ingest_file(&store, &path, LogFormat::Auto, "flat").unwrap();
    let engine = open_engine(&store, &["flat"]).unwrap();
    assert!(analysis::collect::no_rollups_by_scan(&engine, "flat", None).unwrap());
    assert_eq!(
        analysis::collect::rollups("flat", &analysis::collect::runner(&engine, None)).unwrap(),
        (0, 0.0)
    );
    // 300 distinct parents with usage below them: more than 299 held is not a proof.
    assert!(analysis::collect::no_rollups_within(&engine, "flat", None, 300).unwrap());
    assert!(!analysis::collect::no_rollups_within(&engine, "flat", None, 299).unwrap());
    // A cancelled look-up says so.
    let cancel = tokio_util::sync::CancellationToken::new();
    cancel.cancel();
    assert!(matches!(
        analysis::collect::no_rollups_by_scan(&engine, "flat", Some(&cancel)),
        Err(crate::AgentError::Cancelled)
    ));
}

/// A client's query over the `model_calls` view (a join of every record against its
/// children) past the engine's memory runs again with its joins spilling, and answers; past
/// it even spilling, the error says what to do.
#[test]
fn a_client_query_over_the_memory_budget_runs_again_with_joins_spilling() {
    let (_dir, store) = rollup_traces(60_000);
    let sql = "SELECT COUNT(*) AS calls, SUM(cost_usd) AS spend FROM model_calls";
    let limits = apex_datasets::engine::QueryLimits {
        max_rows: 10,
        timeout: std::time::Duration::from_secs(120),
    };
    let run = |limit: usize| {
        let engine = apex_datasets::Engine::open_within(&store, None, limit).unwrap();
        engine
            .create_view(
                crate::data::MODEL_CALLS_VIEW,
                &analysis::sql::model_calls_view(),
            )
            .unwrap();
        let answer = engine.query(sql, limits);
        (answer, engine.spill_joins())
    };
    let (roomy, first_time) = run(apex_datasets::engine::MEMORY_LIMIT);
    let roomy = roomy.unwrap();
    assert!(first_time, "the roomy engine's joins were hashed until now");
    assert_eq!(roomy.rows[0][0], serde_json::json!(60_000));
    let (tight, first_time) = run(8 << 20);
    let tight = tight.unwrap();
    assert!(
        !first_time,
        "the tight engine's joins were not made to spill"
    );
    assert_eq!(tight.rows[0][0], serde_json::json!(60_000));
    let spend = |r: &apex_datasets::engine::QueryResult| r.rows[0][1].as_f64().unwrap();
    assert!((spend(&tight) - 60.0).abs() < 1e-6, "{tight:?}");
    assert!((spend(&roomy) - 60.0).abs() < 1e-6, "{roomy:?}");
    let (tiny, _) = run(64 << 10);
    let e = tiny.unwrap_err().to_string();
    assert!(
        e.starts_with("sql: the query needs more than the engine's memory budget of 64 KiB")
            && e.contains("narrow it with a WHERE"),
        "{e}"
    );
}

/// `dataset`'s records as a pipeline would write them: one Parquet file at `file`, the
/// per-call columns only, not partitioned by day.
fn write_as_a_pipeline(store: &Store, dataset: &str, file: &std::path::Path) {
    let mut batches = Vec::new();
    apex_datasets::read::for_each_batch(store, dataset, 1000, |b| {
        let batch = apex_datasets::schema::records_to_batch(b).unwrap();
        let per_call: Vec<usize> =
            (0..apex_datasets::schema::record_schema().fields().len()).collect();
        batches.push(batch.project(&per_call).unwrap());
        Ok(())
    })
    .unwrap();
    let out = std::fs::File::create(file).unwrap();
    let mut w = parquet::arrow::ArrowWriter::try_new(out, batches[0].schema(), None).unwrap();
    for b in &batches {
        w.write(b).unwrap();
    }
    w.close().unwrap();
}

/// An attached dataset's rollup look-up is recorded for its listing: a report over files the
/// pipeline has not changed since reads the record, and a new file is looked up afresh.
#[test]
fn an_attached_listing_is_looked_up_for_rollups_once() {
    let (_dir, store) = rollup_traces(200);
    let pipeline = tempfile::tempdir().unwrap();
    let write = |name: &str| write_as_a_pipeline(&store, "big", &pipeline.path().join(name));
    write("calls-1.parquet");
    apex_datasets::external::attach(&store, "piped", pipeline.path().to_str().unwrap()).unwrap();
    let listing = || {
        let engine = crate::open_engine(&store, &["piped"]).unwrap();
        engine.snapshot().dataset("piped").unwrap().listing.unwrap()
    };
    let rollups = || analysis::totals(&store, "piped").unwrap().rollup_records;
    assert_eq!(rollups(), 200);
    let first = listing();
    let recorded = apex_store::datasets::listing_rollups(&store, "piped", first).unwrap();
    assert_eq!(recorded.map(|r| r.records), Some(200));
    // Recorded, and read: a record that says 7 is what the next report says.
    let forged = apex_store::datasets::Rollups {
        records: 7,
        spend_usd: 0.07,
    };
    apex_store::datasets::record_listing_rollups(&store, "piped", first, forged).unwrap();
    assert_eq!(rollups(), 7);
    // The pipeline writes another file: another listing, looked up afresh.
    write("calls-2.parquet");
    assert_ne!(listing(), first);
    assert_eq!(rollups(), 400);
}

/// The report's one stream over the calls, when its rollup join does not fit the engine's
/// memory, is counted again from the start with the engine's joins spilling to disk: the
/// same figures as under a roomy budget, nothing counted twice.
#[test]
fn a_report_stream_over_the_memory_budget_is_counted_again_with_joins_spilling() {
    let (_dir, store) = rollup_traces(60_000);
    let scope = analysis::sql::Scope {
        dataset: "big",
        rollups: true,
    };
    let count = |limit: usize| {
        let engine = apex_datasets::Engine::open_within(&store, None, limit).unwrap();
        let streamed = analysis::stream::count(&engine, scope, None, None).unwrap();
        (streamed, engine.spill_joins())
    };
    let (roomy, first_time) = count(apex_datasets::engine::MEMORY_LIMIT);
    assert!(first_time, "the roomy engine's joins were hashed until now");
    // 20-40 MB: the hash join does not fit, the spilling one does (measured on 2 cores).
    let (tight, first_time) = count(28 << 20);
    assert!(
        !first_time,
        "the tight engine's joins were not made to spill: the stream was not retried"
    );
    // Every agent span is a rollup of its call: 60,000 calls, $60, whatever the budget.
    let calls = |s: &analysis::stream::Streamed| -> (i64, f64) {
        let mut spend = analysis::exact::Exact::default();
        let mut n = 0;
        for g in &s.breakdowns {
            n += g.sums.weights;
            spend.merge(g.sums.spend);
        }
        (n, spend.value())
    };
    let (n, usd) = calls(&tight);
    assert_eq!(n, 60_000);
    assert!((usd - 60.0).abs() < 1e-6, "{usd}");
    assert_eq!(
        format!("{:?}", tight.breakdowns),
        format!("{:?}", roomy.breakdowns)
    );
    assert_eq!(
        format!("{:?}", tight.distributions),
        format!("{:?}", roomy.distributions)
    );
}

/// The calls an ingest counts as it writes (when its ids prove there are no rollups) are
/// the report's: the Rust predicate of a model call is the SQL's, over every kind of record.
#[test]
fn an_ingest_counts_the_calls_the_report_counts() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("apex.db")).unwrap();
    let mut lines = String::new();
    // Model operations with and without usage, agent and tool spans with and without it, a
    // weighted record, children of spans without usage (no rollups among them).
    let kinds = [
        ("chat", 100, 0.01, 1, None),
        ("chat", 0, 0.0, 1, None),
        ("invoke_agent", 0, 0.0, 1, None),
        ("invoke_agent", 50, 0.02, 1, None),
        ("execute_tool", 0, 0.0, 1, Some("s2")),
        ("execute_tool", 0, 0.003, 1, Some("s2")),
        ("text_completion", 10, 0.0, 3, Some("s4")),
        ("create_agent", 0, 0.0, 1, None),
    ];
    for (i, (op, tokens, cost, weight, parent)) in kinds.iter().enumerate() {
        let parent = parent.map_or("null".to_string(), |p| format!("\"{p}\""));
        lines.push_str(&format!(
            r#"{{"event_id":"e{i}","trace_id":"t","span_id":"s{i}","parent_span_id":{parent},"timestamp":"2026-02-01T08:00:0{i}.000Z","tenant":"a","feature":"f","workload_type":"w","operation":"{op}","provider":"openai","model":"gpt-4o","input_tokens":{tokens},"output_tokens":0,"latency_ms":1.0,"status":"ok","cost_usd":{cost},"weight":{weight}}}"#
        ));
        lines.push('\n');
    }
    let path = dir.path().join("mixed.jsonl");
    std::fs::write(&path, lines).unwrap();
    let r = ingest_file(&store, &path, LogFormat::Auto, "m").unwrap();
    assert_eq!(r.parsed.accepted, 8);
    assert_eq!(found_by(&store, "m"), "ingest");
    let stats = analysis::collect(&store, "m", false, &CancellationToken::new()).unwrap();
    assert_eq!((r.model_calls, stats.total.calls), (7, 7));
    assert_eq!(r.parsed.spend_usd, analysis::usd(stats.total.spend));
    assert_eq!(r.parsed.spend_usd, 0.033);
}

/// How the recorded rollups of dataset `name` were found.
fn found_by(store: &Store, name: &str) -> String {
    store
        .read(|c| {
            Ok(c.query_row(
                "SELECT found_by FROM dataset_rollups WHERE name = ?1",
                [name],
                |r| r.get(0),
            )?)
        })
        .unwrap()
}

/// A Python that has DuckDB: the clients' venv (CI installs it there) or `python3`.
fn duckdb_python() -> Option<PathBuf> {
    let venv =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tools/clients/.venv/bin/python");
    [venv, PathBuf::from("python3")].into_iter().find(|p| {
        std::process::Command::new(p)
            .args(["-c", "import duckdb"])
            .output()
            .is_ok_and(|o| o.status.success())
    })
}

const DUCKDB_RUNNER: &str = r#"
import datetime, decimal, duckdb, json, sys
con = duckdb.connect()
con.execute("SET threads = 2")
con.execute(sys.argv[1])
def cell(v):
    if isinstance(v, decimal.Decimal): return float(v)
    if isinstance(v, (datetime.date, datetime.datetime)): return v.isoformat()
    return v
out = [[[cell(v) for v in row] for row in con.execute(q).fetchall()] for q in json.load(open(sys.argv[2]))]
print(json.dumps(out))
"#;

fn num(v: &Value) -> f64 {
    v.as_f64()
        .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
        .unwrap_or(f64::NAN)
}

#[test]
fn every_figure_equals_the_same_query_in_duckdb() {
    let python = duckdb_python();
    if !apex_testkit::tool_available(
        "every_figure_equals_the_same_query_in_duckdb",
        python.is_some(),
        "duckdb (python) is not installed (pip install duckdb, or tools/clients/requirements.txt)",
    ) {
        return;
    }
    let python = python.unwrap();
    let (_d, store) = store_with_fixture();
    let root = apex_datasets::root_of(&store);
    let view = analysis::sql::duckdb_view(&root.display().to_string());
    figures_equal_duckdb(&python, &store, "fixture", &view);

    // The same records as a pipeline would write them (per-call columns only, one file, not
    // partitioned by day), attached in place: the documented DuckDB view over the files
    // reproduces every figure too.
    let pipeline = tempfile::tempdir().unwrap();
    write_as_a_pipeline(&store, "fixture", &pipeline.path().join("calls.parquet"));
    apex_datasets::external::attach(&store, "attached", pipeline.path().to_str().unwrap()).unwrap();
    let view = analysis::sql::duckdb_attached_view(
        "attached",
        &format!("{}/**/*.parquet", pipeline.path().display()),
    );
    figures_equal_duckdb(&python, &store, "attached", &view);
}

/// Every figure of the supervisor's report on `dataset` equals its query run in DuckDB with
/// `view` defining `workload_records`.
fn figures_equal_duckdb(python: &std::path::Path, store: &Arc<Store>, dataset: &str, view: &str) {
    let (report, _) = supervisor(store, Some(dataset), &DeterministicNarrator);
    let a = report.cost_analysis.as_ref().unwrap();
    // (query, check of its rows)
    type Check<'a> = Box<dyn Fn(&[Vec<Value>]) + 'a>;
    let mut cases: Vec<(String, Check<'_>)> = Vec::new();
    let close = |got: f64, want: f64, what: &str| {
        assert!(
            (got - want).abs() < 1e-6,
            "{what}: DuckDB {got}, report {want}"
        );
    };
    cases.push((
        a.overview.sql.clone(),
        Box::new(move |rows| {
            let o = &a.overview;
            close(num(&rows[0][0]), o.records as f64, "records");
            close(num(&rows[0][1]), o.model_calls as f64, "model calls");
            close(num(&rows[0][2]), o.spend_usd, "spend");
            close(num(&rows[0][5]), o.failed_calls as f64, "failed calls");
            close(num(&rows[0][6]), o.failed_cost_usd, "failed cost");
        }),
    ));
    for b in &a.breakdowns {
        let keys = if b.dimension == Dimension::Model {
            2
        } else {
            1
        };
        cases.push((
            b.sql.clone(),
            Box::new(move |rows| {
                assert_eq!(rows.len(), b.groups, "{:?} groups", b.dimension);
                for (row, want) in rows.iter().zip(&b.rows) {
                    let key = row[keys - 1].as_str().unwrap_or_default();
                    assert!(
                        key.starts_with(&want.key),
                        "{:?}: {key} vs {}",
                        b.dimension,
                        want.key
                    );
                    close(num(&row[keys]), want.calls as f64, "calls");
                    close(num(&row[keys + 1]), want.spend_usd, "spend");
                }
            }),
        ));
    }
    for p in &a.percentiles {
        for (name, sql) in &p.sql {
            let want = match name.as_str() {
                "p50" => p.p50,
                "p90" => p.p90,
                "p95" => p.p95,
                _ => p.p99,
            };
            cases.push((
                sql.clone(),
                Box::new(move |rows| close(num(&rows[0][0]), want as f64, "percentile")),
            ));
        }
    }
    cases.push((
        a.failures.sql.clone(),
        Box::new(move |rows| {
            for (row, want) in rows.iter().zip(&a.failures.by_type) {
                assert_eq!(row[0].as_str(), Some(want.error_type.as_str()));
                close(num(&row[1]), want.calls as f64, "error calls");
                close(num(&row[2]), want.cost_usd, "error cost");
            }
        }),
    ));
    cases.push((
        a.duplicates.sql.clone(),
        Box::new(move |rows| {
            let repeats: f64 = rows.iter().map(|r| num(&r[4])).sum();
            let cost: f64 = rows.iter().map(|r| num(&r[5])).sum();
            close(repeats, a.duplicates.repeats as f64, "repeats");
            close(cost, a.duplicates.repeat_cost_usd, "repeat cost");
        }),
    ));
    for r in &report.recommendations {
        for sql in &r.sql {
            let kind = r.kind.clone();
            let current = r.current_cost_usd;
            let calls = r.affected_calls as f64;
            cases.push((
                sql.clone(),
                Box::new(move |rows| {
                    if kind == "retry_waste" || kind == "right_sizing" {
                        let cost_col = if kind == "retry_waste" { 4 } else { 3 };
                        let col = if kind == "retry_waste" { 3 } else { 2 };
                        close(rows.iter().map(|r| num(&r[col])).sum(), calls, &kind);
                        close(rows.iter().map(|r| num(&r[cost_col])).sum(), current, &kind);
                    }
                }),
            ));
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let qfile = dir.path().join("queries.json");
    let queries: Vec<&String> = cases.iter().map(|c| &c.0).collect();
    std::fs::write(&qfile, serde_json::to_string(&queries).unwrap()).unwrap();
    let out = std::process::Command::new(python)
        .args(["-c", DUCKDB_RUNNER, view])
        .arg(&qfile)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "DuckDB refused a query: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let results: Vec<Vec<Vec<Value>>> = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(results.len(), cases.len());
    for ((_, check), rows) in cases.iter().zip(&results) {
        check(rows);
    }
}
