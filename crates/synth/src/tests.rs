use std::collections::{HashMap, HashSet};

use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use std::fs::File;
use std::path::Path;

use super::files::{remove_abandoned_temps, temp_name, temp_writer_pid};
use super::generator::{CHUNK_RECORDS, Plan};
use super::quality::ChunkStats;
use super::run::Progress;
use super::*;
use apex_core::events::CollectingSink;
use apex_core::events::EventSink;
use apex_core::workload::WorkloadRecord;
use apex_core::workspace::Workspace;
use apex_store::{Store, datasets};

/// Nothing of a dataset write is on disk: no part file and no staging directory.
fn assert_no_dataset_files(store: &Store) {
    let root = apex_datasets::root_of(store);
    let mut found = Vec::new();
    let mut stack = vec![root.clone()];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                if p.parent() == Some(root.join(".staging").as_path()) {
                    found.push(p.clone());
                }
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "parquet") {
                found.push(p);
            }
        }
    }
    assert!(found.is_empty(), "left behind: {found:?}");
}

fn ws() -> (tempfile::TempDir, Workspace) {
    let dir = tempfile::tempdir().unwrap();
    let ws = Workspace::open(dir.path(), None).unwrap();
    (dir, ws)
}

fn req(
    profile: &str,
    format: &str,
    output: Option<&str>,
    count: u64,
    seed: u64,
) -> GenerateRequest {
    GenerateRequest {
        profile: profile.into(),
        count: Some(count),
        seed: Some(seed),
        format: Some(format.into()),
        output: output.map(str::to_string),
        ..Default::default()
    }
}

fn run(ws: &Workspace, r: &GenerateRequest) -> Result<GenerateOutcome, SynthError> {
    generate(
        ws,
        None,
        r,
        &apex_core::events::NullSink,
        &CancellationToken::new(),
    )
}

/// A sink that cancels its token on the first `batch_written`: cancellation mid-way.
struct CancelOnBatch(CancellationToken);

impl EventSink for CancelOnBatch {
    fn emit(&self, event: &str, _data: Value) {
        if event == "batch_written" {
            self.0.cancel();
        }
    }
}

#[test]
fn output_is_byte_identical_for_any_thread_count() {
    let (_d, ws) = ws();
    let mut hashes = Vec::new();
    for (threads, out) in [(1, "a.jsonl"), (2, "b.jsonl"), (3, "c.jsonl")] {
        let mut r = req("coding_assistant", "jsonl", Some(out), 20_011, 7);
        r.threads = Some(threads);
        run(&ws, &r).unwrap();
        let bytes = std::fs::read(ws.root().join(out)).unwrap();
        hashes.push(xxhash_rust::xxh3::xxh3_64(&bytes));
    }
    assert!(hashes.windows(2).all(|w| w[0] == w[1]), "{hashes:?}");
    let mut other = req("coding_assistant", "jsonl", Some("d.jsonl"), 20_011, 8);
    other.threads = Some(2);
    run(&ws, &other).unwrap();
    let bytes = std::fs::read(ws.root().join("d.jsonl")).unwrap();
    assert_ne!(xxhash_rust::xxh3::xxh3_64(&bytes), hashes[0]);
}

#[test]
fn jsonl_reads_back_as_workload_records_with_linked_traces() {
    let (_d, ws) = ws();
    let out = run(
        &ws,
        &req("customer_support", "jsonl", Some("out/cs.jsonl"), 12_345, 3),
    )
    .unwrap();
    assert_eq!(out.records, 12_345);
    assert_eq!(out.path.as_deref(), Some("out/cs.jsonl"));
    let text = std::fs::read_to_string(ws.root().join("out/cs.jsonl")).unwrap();
    let recs: Vec<WorkloadRecord> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(recs.len(), 12_345);
    let spans: HashMap<(&str, &str), &WorkloadRecord> = recs
        .iter()
        .map(|r| ((r.trace_id.as_str(), r.span_id.as_str()), r))
        .collect();
    let mut ops = HashSet::new();
    let mut cost = 0.0;
    for r in &recs {
        ops.insert(r.operation.as_str());
        cost += r.cost_usd;
        if let Some(parent) = &r.parent_span_id {
            let p = spans
                .get(&(r.trace_id.as_str(), parent.as_str()))
                .expect("parent in the same trace");
            assert_eq!(p.operation, "invoke_agent");
            assert!(r.timestamp >= p.timestamp);
        }
        if r.operation == "chat" && r.status == "ok" {
            let expected = PriceCatalog::builtin()
                .cost(
                    &r.model,
                    r.input_tokens,
                    r.output_tokens,
                    r.cache_read_tokens,
                    r.cache_write_tokens,
                )
                .unwrap();
            assert!((r.cost_usd - expected).abs() < 1e-9, "{r:?}");
            assert!(r.ttft_ms.unwrap() < r.latency_ms);
        }
        assert_eq!(r.status == "error", r.error_type.is_some());
    }
    assert_eq!(ops, HashSet::from(["chat", "execute_tool", "invoke_agent"]));
    assert!((cost - out.summary["spend_usd"].as_f64().unwrap()).abs() < 1e-6);
    // Timestamps stay inside the span and roots come in time order.
    let roots: Vec<&str> = recs
        .iter()
        .filter(|r| r.parent_span_id.is_none())
        .map(|r| r.timestamp.as_str())
        .collect();
    assert!(roots.windows(2).all(|w| w[0] <= w[1]));
    assert!(
        roots[0] >= "2026-01-01T00:00:00.000Z"
            && roots[roots.len() - 1] < "2026-01-31T00:00:00.000Z"
    );
}

#[test]
fn realized_statistics_match_every_profile() {
    let (_d, ws) = ws();
    for name in profile::names() {
        let out = run(&ws, &req(&name, "jsonl", Some("q.jsonl"), 60_000, 11)).unwrap();
        let q = &out.quality;
        assert_eq!(q["passed"], true, "{name}: {q:#}");
        // The tests are real: a mix the data does not follow is rejected.
        assert!(q["model_mix"]["df"].as_f64().unwrap() >= 3.0, "{name}");
    }
}

#[test]
fn the_quality_report_rejects_data_from_another_profile() {
    // Generate ecommerce data but judge it against a plan whose model mix differs.
    let p = profile::load("ecommerce")
        .unwrap()
        .with_overrides(&json!({"volume": {"records": 50_000}}))
        .unwrap();
    let plan = Plan::new(&p, PriceCatalog::builtin(), 5, 1_767_225_600_000);
    let mut stats = ChunkStats::new(plan.models.len());
    let mut recs = Vec::new();
    for c in 0..plan.chunks() {
        let mut s = ChunkStats::new(plan.models.len());
        plan.chunk(c, &mut recs, &mut s);
        stats.merge(&s);
    }
    assert_eq!(stats.report(&plan.expected())["passed"], true);
    let skewed = p
        .with_overrides(&json!({"models": {"gpt-4o-mini": 0.6}}))
        .unwrap();
    let other = Plan::new(&skewed, PriceCatalog::builtin(), 5, 1_767_225_600_000);
    let report = stats.report(&other.expected());
    assert!(
        report["model_mix"]["p_value"].as_f64().unwrap() < 1e-6,
        "{report:#}"
    );
    assert_eq!(report["passed"], false);
}

#[test]
fn dataset_output_registers_a_dataset_with_quality_and_events() {
    let (_d, ws) = ws();
    let store = Store::open(&ws.db_path()).unwrap();
    let events = CollectingSink::new();
    let mut r = req("ecommerce", "sqlite", None, 10_000, 42);
    r.dataset = Some("shop".into());
    let out = generate(&ws, Some(&store), &r, &events, &CancellationToken::new()).unwrap();
    assert_eq!(out.dataset.as_deref(), Some("shop"));
    let info = datasets::get(&store, "shop").unwrap().unwrap();
    assert_eq!(info.record_count, 10_000);
    assert_eq!(info.params["seed"], 42);
    assert_eq!(info.summary["quality"]["passed"], true);
    let n = apex_datasets::read::for_each_batch(&store, "shop", 4096, |_| Ok(())).unwrap();
    assert_eq!(n, 10_000);
    let names = events.names();
    assert_eq!(
        names.first().map(String::as_str),
        Some("generation_started")
    );
    assert_eq!(
        names.last().map(String::as_str),
        Some("generation_finished")
    );
    let batches: Vec<_> = events
        .events()
        .into_iter()
        .filter(|(n, _)| n == "batch_written")
        .collect();
    assert!(!batches.is_empty());
    let (_, last) = batches.last().unwrap();
    assert_eq!(last["done"], 10_000);
    assert_eq!(last["total"], 10_000);
    assert!(last["records_per_sec"].as_f64().unwrap() > 0.0);
    // The same rows as the JSONL export of the same seed.
    run(
        &ws,
        &req("ecommerce", "jsonl", Some("shop.jsonl"), 10_000, 42),
    )
    .unwrap();
    let text = std::fs::read_to_string(ws.root().join("shop.jsonl")).unwrap();
    let first: WorkloadRecord = serde_json::from_str(text.lines().next().unwrap()).unwrap();
    let mut from_db = None;
    apex_datasets::read::for_each_batch(&store, "shop", 10_000, |b| {
        // several batches: keep the one that has it
        if let Some(r) = b.iter().find(|r| r.event_id == first.event_id) {
            from_db = Some(r.clone());
        }
        Ok(())
    })
    .unwrap();
    assert_eq!(from_db, Some(first));
}

#[test]
fn cancellation_leaves_no_file_and_no_dataset() {
    let (_d, ws) = ws();
    let store = Store::open(&ws.db_path()).unwrap();
    let cancel = CancellationToken::new();
    cancel.cancel();
    let mut r = req("gaming", "sqlite", None, 100_000, 1);
    r.dataset = Some("g".into());
    let err = generate(&ws, Some(&store), &r, &apex_core::events::NullSink, &cancel).unwrap_err();
    assert!(matches!(err, SynthError::Cancelled { .. }), "{err}");
    assert!(datasets::list(&store).unwrap().is_empty());
    assert_no_dataset_files(&store);

    // Cancel mid-way: a sink that cancels on the first batch.
    let cancel = CancellationToken::new();
    let sink = CancelOnBatch(cancel.clone());
    let err = generate(&ws, Some(&store), &r, &sink, &cancel).unwrap_err();
    match err {
        SynthError::Cancelled { records, total } => assert!(records > 0 && records < total),
        other => panic!("{other}"),
    }
    assert!(datasets::list(&store).unwrap().is_empty());
    assert_no_dataset_files(&store);
    let cancel = CancellationToken::new();
    let sink = CancelOnBatch(cancel.clone());
    let r = req("gaming", "parquet", Some("g.parquet"), 100_000, 1);
    assert!(generate(&ws, None, &r, &sink, &cancel).is_err());
    let leftovers: Vec<_> = std::fs::read_dir(ws.root())
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .filter(|n| n != ".netra-apex")
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn bad_input_names_the_field_and_what_is_accepted() {
    let (_d, ws) = ws();
    let cases: Vec<(GenerateRequest, &[&str])> = vec![
        (
            req("retail", "jsonl", Some("x.jsonl"), 10, 1),
            &["retail", "ecommerce", "gaming"],
        ),
        (
            req("ecommerce", "jsonl", Some("x.jsonl"), 0, 1),
            &["count", "10000000000"],
        ),
        (
            req("ecommerce", "jsonl", Some("x.jsonl"), 10_000_000_001, 1),
            &["count"],
        ),
        (
            GenerateRequest {
                days: Some(-3),
                ..req("ecommerce", "jsonl", Some("x.jsonl"), 10, 1)
            },
            &["days", "1 to"],
        ),
        (
            req("ecommerce", "xml", Some("x.xml"), 10, 1),
            &["format", "parquet", "otlp-json"],
        ),
        (
            req("ecommerce", "jsonl", Some("../x.jsonl"), 10, 1),
            &["output", "outside"],
        ),
        (
            req("ecommerce", "jsonl", Some("/etc/x.jsonl"), 10, 1),
            &["output"],
        ),
        (
            GenerateRequest {
                overrides: Some(json!({"arrival": {"peak_hour": [3]}})),
                ..req("ecommerce", "jsonl", Some("x.jsonl"), 10, 1)
            },
            &["arrival.peak_hour", "peak_hours"],
        ),
        (
            GenerateRequest {
                start: Some("yesterday".into()),
                ..req("ecommerce", "jsonl", Some("x.jsonl"), 10, 1)
            },
            &["start"],
        ),
        (
            GenerateRequest {
                dataset: Some("bad name".into()),
                ..req("ecommerce", "sqlite", None, 10, 1)
            },
            &["dataset"],
        ),
    ];
    let store = Store::open(&ws.db_path()).unwrap();
    for (r, needles) in cases {
        let err = generate(
            &ws,
            Some(&store),
            &r,
            &apex_core::events::NullSink,
            &CancellationToken::new(),
        )
        .unwrap_err()
        .to_string();
        for n in needles {
            assert!(err.contains(n), "`{err}` should mention `{n}`");
        }
    }
    // A path whose parent is a file cannot be written, even by root.
    std::fs::write(ws.root().join("plain.txt"), "x").unwrap();
    let err = run(
        &ws,
        &req("ecommerce", "jsonl", Some("plain.txt/x.jsonl"), 10, 1),
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.starts_with("output:") && err.contains("plain.txt"),
        "{err}"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::create_dir(ws.root().join("ro")).unwrap();
        std::fs::set_permissions(ws.root().join("ro"), std::fs::Permissions::from_mode(0o555))
            .unwrap();
        let writable = std::fs::File::create(ws.root().join("ro/probe")).is_ok(); // root ignores modes
        if !writable {
            let err = run(&ws, &req("ecommerce", "jsonl", Some("ro/x.jsonl"), 10, 1))
                .unwrap_err()
                .to_string();
            assert!(
                err.contains("output") && err.contains("not writable"),
                "{err}"
            );
        }
    }
}

#[test]
fn a_missing_seed_is_drawn_and_returned_so_the_run_repeats() {
    let (_d, ws) = ws();
    let mut r = req("research", "csv", Some("r1.csv"), 3_000, 0);
    r.seed = None;
    let first = run(&ws, &r).unwrap();
    r.seed = Some(first.seed);
    r.output = Some("r2.csv".into());
    run(&ws, &r).unwrap();
    let a = std::fs::read(ws.root().join("r1.csv")).unwrap();
    let b = std::fs::read(ws.root().join("r2.csv")).unwrap();
    assert_eq!(a, b);
    let mut reader = ::csv::Reader::from_reader(a.as_slice());
    assert_eq!(
        reader.headers().unwrap().len(),
        apex_core::workload::COLUMNS.len()
    );
    assert_eq!(reader.records().count(), 3_000);
}

#[test]
fn otlp_json_lines_are_export_requests_with_gen_ai_attributes() {
    let (_d, ws) = ws();
    run(
        &ws,
        &req(
            "coding_assistant",
            "otlp-json",
            Some("t.otlp.jsonl"),
            5_000,
            9,
        ),
    )
    .unwrap();
    let text = std::fs::read_to_string(ws.root().join("t.otlp.jsonl")).unwrap();
    let mut spans = 0;
    let mut children = 0;
    for line in text.lines() {
        let v: Value = serde_json::from_str(line).unwrap();
        for s in v["resourceSpans"][0]["scopeSpans"][0]["spans"]
            .as_array()
            .unwrap()
        {
            spans += 1;
            assert_eq!(s["traceId"].as_str().unwrap().len(), 32);
            assert_eq!(s["spanId"].as_str().unwrap().len(), 16);
            children += s.get("parentSpanId").is_some() as usize;
            let keys: Vec<&str> = s["attributes"]
                .as_array()
                .unwrap()
                .iter()
                .map(|a| a["key"].as_str().unwrap())
                .collect();
            assert!(
                keys.contains(&"gen_ai.operation.name") && keys.contains(&"gen_ai.request.model")
            );
            let start: u64 = s["startTimeUnixNano"].as_str().unwrap().parse().unwrap();
            let end: u64 = s["endTimeUnixNano"].as_str().unwrap().parse().unwrap();
            assert!(end >= start);
        }
    }
    assert_eq!(spans, 5_000);
    assert!(children > 1000);
}

#[test]
fn progress_event_count_is_announced_exactly() {
    for total in [1u64, 2047, 2048, 2049, 100_000, 1_000_003] {
        for (threads, per_thread) in [(1, 4), (2, 4), (4, 4), (2, 2)] {
            let p = Progress::new(total, threads, per_thread);
            let mut n = 2;
            let chunks = total.div_ceil(CHUNK_RECORDS);
            let mut next = p.mark_after(0);
            let mut c = 0;
            while c < chunks {
                c = (c + p.group_chunks()).min(chunks);
                let done = (c * CHUNK_RECORDS).min(total);
                if done >= next || done == total {
                    n += 1;
                    next = p.mark_after(done);
                }
            }
            assert_eq!(p.events(), n);
            assert!(n <= 53, "{total}: {n}");
        }
    }
}

/// Every trace is whole in every chunk: each agent root has children, every child's parent is
/// an agent root of its trace in the same chunk, every call that asks for tools is followed by
/// a tool, and the trace ends with a final call (or a failed one). Long traces (up to 50
/// turns of up to 10 tools) make most chunk ends fall inside a trace that must be shaped to
/// fit; the counters prove both shaping paths (a trimmed trace ending exactly at the chunk
/// end, and an agentic request answered by a single call in the chunk's last slot) are hit.
#[test]
fn no_trace_is_ever_cut_at_a_chunk_boundary() {
    use generator::{FINISH, OP_AGENT, OP_CHAT, OP_TOOL};
    let long = json!({
        "workloads": {"simple_chat": 0.1, "rag": 0.0, "tool_use": 0.3, "multi_turn_tool_use": 0.6, "failed_request": 0.0},
        "agent": {"min_turns": 20, "max_turns": 50, "max_tools_per_turn": 10},
    });
    let cases = [
        ("coding_assistant", None, 301),
        ("customer_support", None, 301),
        ("coding_assistant", Some(long), 401),
    ];
    let (mut trimmed_at_end, mut single_at_end) = (0, 0);
    for (profile, overrides, chunks) in cases {
        let total = chunks * CHUNK_RECORDS + 777;
        let r = GenerateRequest {
            profile: profile.into(),
            overrides,
            count: Some(total),
            format: Some("jsonl".into()),
            ..Default::default()
        };
        let p = resolve_profile(&r).unwrap();
        let plan = Plan::new(&p, PriceCatalog::builtin(), 99, 1_767_225_600_000);
        let mut recs = Vec::new();
        let mut all = 0u64;
        for c in 0..plan.chunks() {
            let mut stats = ChunkStats::new(plan.models.len());
            plan.chunk(c, &mut recs, &mut stats);
            all += recs.len() as u64;
            // Traces in order: a root, then its children.
            let mut i = 0;
            while i < recs.len() {
                let root = &recs[i];
                assert_eq!(
                    root.parent_span_id, 0,
                    "{profile} chunk {c}: a child without its root at {i}"
                );
                let end = i
                    + 1
                    + recs[i + 1..]
                        .iter()
                        .take_while(|r| r.parent_span_id != 0)
                        .count();
                let children = &recs[i + 1..end];
                if root.op == OP_AGENT {
                    assert!(
                        !children.is_empty(),
                        "{profile} chunk {c}: agent root without children at {i}"
                    );
                    let mut wants_tools = false;
                    for (k, ch) in children.iter().enumerate() {
                        assert_eq!(
                            (ch.parent_span_id, ch.trace_id),
                            (root.span_id, root.trace_id)
                        );
                        if ch.op == OP_TOOL {
                            assert!(k > 0, "a tool before any call");
                        } else {
                            assert_eq!(ch.op, OP_CHAT);
                            assert!(
                                !wants_tools,
                                "{profile} chunk {c}: a call asked for tools that never ran"
                            );
                        }
                        wants_tools =
                            ch.op == OP_CHAT && FINISH[ch.finish as usize] == "tool_calls";
                        if ch.op == OP_CHAT && wants_tools {
                            assert!(
                                k + 1 < children.len(),
                                "{profile} chunk {c}: trace ends asking for tools"
                            );
                        }
                    }
                    let last = &children[children.len() - 1];
                    assert_eq!(
                        last.op, OP_CHAT,
                        "{profile} chunk {c}: trace ends without a final call"
                    );
                    assert!(last.error != 0 || FINISH[last.finish as usize] != "tool_calls");
                    if end == recs.len() {
                        trimmed_at_end += 1;
                    }
                } else {
                    assert!(
                        children.is_empty(),
                        "{profile} chunk {c}: a single call with children"
                    );
                    let agentic = matches!(
                        profile::WORKLOAD_KINDS[root.workload as usize],
                        "tool_use" | "multi_turn_tool_use"
                    );
                    if agentic && end == recs.len() {
                        single_at_end += 1;
                    }
                }
                i = end;
            }
        }
        assert_eq!(all, total);
    }
    assert!(
        trimmed_at_end > 300,
        "traces ending at a chunk end: {trimmed_at_end}"
    );
    assert!(
        single_at_end > 0,
        "agentic requests in a chunk's last slot: {single_at_end}"
    );
}

#[test]
fn abandoned_temps_of_dead_writers_are_removed_and_live_ones_kept() {
    let dir = tempfile::tempdir().unwrap();
    // A pid that is not running: past the kernel's pid_max (at most 2^22).
    let dead = 4_194_304 + 17;
    assert!(!std::path::Path::new(&format!("/proc/{dead}")).exists());
    let me = std::process::id();
    let names = [
        temp_name("a.jsonl", dead, 1),
        temp_name("b.parquet", dead, u64::MAX),
        temp_name("a.jsonl", me, 2),
        temp_name("a.jsonl", 1, 3), // pid 1 is always running
        ".a.jsonl.12-xyz.tmp".to_string(),
        format!(".a.jsonl.{dead}.tmp"),
        "a.jsonl".to_string(),
        format!("a.jsonl.{dead}-0000000000000001.tmp"),
    ];
    for n in &names {
        std::fs::write(dir.path().join(n), b"x").unwrap();
    }
    assert_eq!(temp_writer_pid(&names[0]), Some(dead));
    assert_eq!(remove_abandoned_temps(dir.path()), 2);
    let mut left: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    left.sort();
    let mut expected: Vec<String> = names[2..].to_vec();
    expected.sort();
    assert_eq!(left, expected);
    // A generation into the directory cleans it too, and leaves only its output.
    std::fs::write(dir.path().join(&names[0]), b"x").unwrap();
    let ws = Workspace::open(dir.path(), None).unwrap();
    run(&ws, &req("ecommerce", "jsonl", Some("c.jsonl"), 100, 1)).unwrap();
    assert!(!dir.path().join(&names[0]).exists());
    assert!(dir.path().join("c.jsonl").exists());
}

fn run_parts(
    ws: &Workspace,
    r: &GenerateRequest,
    part_rows: u64,
) -> Result<GenerateOutcome, SynthError> {
    generate_with_part_rows(
        ws,
        None,
        r,
        &apex_core::events::NullSink,
        &CancellationToken::new(),
        part_rows,
    )
}

/// Every row of a Parquet file, in order, as one batch.
fn read_parquet(path: &Path) -> arrow::record_batch::RecordBatch {
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
    let reader = ParquetRecordBatchReaderBuilder::try_new(File::open(path).unwrap())
        .unwrap()
        .build()
        .unwrap();
    let batches: Vec<_> = reader.map(|b| b.unwrap()).collect();
    arrow::compute::concat_batches(&apex_datasets::schema::record_schema(), &batches).unwrap()
}

fn dir_names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn parquet_rolls_over_to_part_files_that_hold_the_single_file_rows() {
    use parquet::file::reader::{FileReader, SerializedFileReader};
    let (_d, ws) = ws();
    // The reference: the same records as one file.
    let one = run_parts(
        &ws,
        &req(
            "coding_assistant",
            "parquet",
            Some("one.parquet"),
            100_000,
            9,
        ),
        u64::MAX,
    )
    .unwrap();
    assert!(one.summary.get("output").is_none());
    let all = read_parquet(&ws.root().join("one.parquet"));
    assert_eq!(all.num_rows(), 100_000);

    // 30,000 rows per part: not a multiple of the 2,048-record chunks, so batches are split.
    let mut hashes = Vec::new();
    for (threads, out) in [(1, "p1.parquet"), (2, "p2.parquet")] {
        let mut r = req("coding_assistant", "parquet", Some(out), 100_000, 9);
        r.threads = Some(threads);
        let o = run_parts(&ws, &r, 30_000).unwrap();
        assert_eq!(o.path.as_deref(), Some(out));
        assert_eq!(o.summary["output"]["layout"], "directory");
        assert_eq!(o.summary["output"]["parts"], 4);
        assert_eq!(o.summary["output"]["rows_per_part"], 30_000);
        let dir = ws.root().join(out);
        assert!(dir.is_dir());
        let names = dir_names(&dir);
        assert_eq!(
            names,
            [
                "part-00000.parquet",
                "part-00001.parquet",
                "part-00002.parquet",
                "part-00003.parquet"
            ]
        );
        let mut rows = Vec::new();
        let mut bytes = 0;
        let mut pieces = Vec::new();
        let mut hash = Vec::new();
        for n in &names {
            let path = dir.join(n);
            let data = std::fs::read(&path).unwrap();
            bytes += data.len() as u64;
            hash.push(xxhash_rust::xxh3::xxh3_64(&data));
            let reader = SerializedFileReader::new(File::open(&path).unwrap()).unwrap();
            rows.push(reader.metadata().file_metadata().num_rows());
            pieces.push(read_parquet(&path));
        }
        assert_eq!(rows, [30_000, 30_000, 30_000, 10_000]);
        assert_eq!(o.bytes, Some(bytes));
        // The parts, in order, are exactly the rows of the single file.
        let joined =
            arrow::compute::concat_batches(&apex_datasets::schema::record_schema(), &pieces)
                .unwrap();
        assert_eq!(joined, all);
        hashes.push(hash);
    }
    assert_eq!(hashes[0], hashes[1], "parts differ between 1 and 2 threads");
    // Whole parts only: 90,000 rows make three parts, not a fourth empty one.
    let o = run_parts(
        &ws,
        &req(
            "coding_assistant",
            "parquet",
            Some("even.parquet"),
            90_000,
            9,
        ),
        30_000,
    )
    .unwrap();
    assert_eq!(o.summary["output"]["parts"], 3);
    assert_eq!(dir_names(&ws.root().join("even.parquet")).len(), 3);
    // At the threshold the output stays one file.
    run_parts(
        &ws,
        &req("coding_assistant", "parquet", Some("at.parquet"), 30_000, 9),
        30_000,
    )
    .unwrap();
    assert!(ws.root().join("at.parquet").is_file());
    // Nothing but the outputs is left in the directory (no temps).
    let left: Vec<String> = dir_names(ws.root())
        .into_iter()
        .filter(|n| n != ".netra-apex")
        .collect();
    assert_eq!(
        left,
        [
            "at.parquet",
            "even.parquet",
            "one.parquet",
            "p1.parquet",
            "p2.parquet"
        ]
    );
}

#[test]
fn a_cancelled_part_output_leaves_nothing() {
    let (_d, ws) = ws();
    let cancel = CancellationToken::new();
    let sink = CancelOnBatch(cancel.clone());
    let mut r = req("gaming", "parquet", Some("g.parquet"), 100_000, 1);
    r.threads = Some(2);
    // 2,000 rows per part: the first written group (4 chunks for Parquet on 2 threads,
    // 8,192 rows) already spans several parts.
    let err = generate_with_part_rows(&ws, None, &r, &sink, &cancel, 2_000).unwrap_err();
    match err {
        SynthError::Cancelled { records, total } => {
            assert!(records > 4_000 && records < total, "{records}")
        }
        other => panic!("{other}"),
    }
    let left: Vec<String> = dir_names(ws.root())
        .into_iter()
        .filter(|n| n != ".netra-apex")
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn a_part_directory_replaces_only_what_a_generation_wrote() {
    let (_d, ws) = ws();
    let small = |out: &str| req("ecommerce", "parquet", Some(out), 5_000, 2);
    // A file at the path is replaced by a directory, and that directory by a new one.
    std::fs::write(ws.root().join("a.parquet"), b"old").unwrap();
    run_parts(&ws, &small("a.parquet"), 2_000).unwrap();
    assert_eq!(dir_names(&ws.root().join("a.parquet")).len(), 3);
    run_parts(&ws, &small("a.parquet"), 4_000).unwrap();
    assert_eq!(
        dir_names(&ws.root().join("a.parquet")),
        ["part-00000.parquet", "part-00001.parquet"]
    );
    // ... and by a single file again.
    let o = run_parts(&ws, &small("a.parquet"), u64::MAX).unwrap();
    assert!(ws.root().join("a.parquet").is_file());
    assert_eq!(
        o.bytes,
        Some(
            std::fs::metadata(ws.root().join("a.parquet"))
                .unwrap()
                .len()
        )
    );
    // A directory with anything else in it is the user's: refused and left as it is.
    let user = ws.root().join("u.parquet");
    std::fs::create_dir(&user).unwrap();
    std::fs::write(user.join("part-00000.parquet"), b"mine").unwrap();
    std::fs::write(user.join("notes.txt"), b"mine").unwrap();
    for part_rows in [2_000, u64::MAX] {
        let err = run_parts(&ws, &small("u.parquet"), part_rows).unwrap_err();
        assert!(
            matches!(&err, SynthError::Invalid { field, .. } if field == "output"),
            "{err}"
        );
        assert!(err.to_string().contains("is a directory"), "{err}");
    }
    assert_eq!(dir_names(&user), ["notes.txt", "part-00000.parquet"]);
    // So is an empty directory.
    std::fs::create_dir(ws.root().join("e.parquet")).unwrap();
    assert!(run_parts(&ws, &small("e.parquet"), 2_000).is_err());
    assert!(ws.root().join("e.parquet").is_dir());
    let left: Vec<String> = dir_names(ws.root())
        .into_iter()
        .filter(|n| n != ".netra-apex")
        .collect();
    assert_eq!(left, ["a.parquet", "e.parquet", "u.parquet"]);
}

#[test]
fn abandoned_part_directories_are_removed_only_when_they_hold_parts() {
    let dir = tempfile::tempdir().unwrap();
    let dead = 4_194_304 + 23;
    let parts = dir.path().join(temp_name("x.parquet", dead, 1));
    std::fs::create_dir(&parts).unwrap();
    std::fs::write(parts.join("part-00000.parquet"), b"x").unwrap();
    std::fs::write(parts.join("part-00001.parquet"), b"x").unwrap();
    let empty = dir.path().join(temp_name("y.parquet", dead, 2));
    std::fs::create_dir(&empty).unwrap();
    let foreign = dir.path().join(temp_name("z.parquet", dead, 3));
    std::fs::create_dir(&foreign).unwrap();
    std::fs::write(foreign.join("part-00000.parquet"), b"x").unwrap();
    std::fs::write(foreign.join("other"), b"x").unwrap();
    let live = dir
        .path()
        .join(temp_name("w.parquet", std::process::id(), 4));
    std::fs::create_dir(&live).unwrap();
    std::fs::write(live.join("part-00000.parquet"), b"x").unwrap();
    assert_eq!(remove_abandoned_temps(dir.path()), 2);
    assert!(!parts.exists() && !empty.exists());
    assert_eq!(dir_names(&foreign), ["other", "part-00000.parquet"]);
    assert!(live.join("part-00000.parquet").exists());
}
