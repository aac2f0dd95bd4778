//! Tests of writes, snapshots, the engine and the conversion over real files in a temp dir.

use std::time::Duration;

use serde_json::{Value, json};

use super::*;
use apex_core::workload::WorkloadRecord;
use apex_store::datasets as catalog;

fn rec(i: u64, day: u32) -> WorkloadRecord {
    WorkloadRecord {
        event_id: format!("e{i:06}"),
        trace_id: format!("t{i}"),
        span_id: format!("s{i}"),
        parent_span_id: i.is_multiple_of(3).then(|| format!("s{}", i + 1)),
        timestamp: format!("2026-01-{day:02}T{:02}:{:02}:00.000Z", i % 24, i % 60),
        tenant: ["acme", "globex"][(i % 2) as usize].into(),
        feature: "chat".into(),
        workload_type: "simple_chat".into(),
        operation: if i.is_multiple_of(10) {
            "execute_tool"
        } else {
            "chat"
        }
        .into(),
        provider: "openai".into(),
        model: ["gpt-4o", "gpt-4o-mini"][(i % 2) as usize].into(),
        input_tokens: 100 + i,
        output_tokens: 50,
        cache_read_tokens: 0,
        cache_write_tokens: 0,
        reasoning_tokens: 0,
        latency_ms: 420.5,
        ttft_ms: (!i.is_multiple_of(4)).then_some(80.0),
        status: if i.is_multiple_of(7) { "error" } else { "ok" }.into(),
        error_type: i.is_multiple_of(7).then(|| "timeout".into()),
        finish_reason: Some("stop".into()),
        prompt_hash: Some(format!("h{}", i % 5)),
        cost_usd: 0.001 * (i % 13) as f64,
        weight: if i.is_multiple_of(11) { 12 } else { 1 },
        aggregated: i.is_multiple_of(11),
        quality_flags: i.is_multiple_of(9).then(|| "unknown_model,unpriced".into()),
    }
}

/// `r` as the SQLite layout stored it: no accounting, so one clean call.
fn clean(r: WorkloadRecord) -> WorkloadRecord {
    WorkloadRecord {
        weight: 1,
        aggregated: false,
        quality_flags: None,
        ..r
    }
}

fn records(range: std::ops::Range<u64>, day: u32) -> Vec<WorkloadRecord> {
    range.map(|i| rec(i, day)).collect()
}

fn store() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("apex.db")).unwrap();
    (dir, store)
}

fn count(store: &Store, name: &str) -> i64 {
    let engine = Engine::open(store, None).unwrap();
    let b = engine
        .collect(&format!(
            "SELECT COUNT(*) AS n FROM workload_records WHERE dataset = '{name}'"
        ))
        .unwrap();
    let rows = engine::json_rows(&b[0]).unwrap();
    rows[0][0].as_i64().unwrap()
}

fn write(store: &Store, name: &str, mode: WriteMode, recs: &[WorkloadRecord]) -> DatasetInfo {
    let mut w = DatasetWrite::begin(store, name, mode, WhenBusy::Refuse).unwrap();
    w.append_records(recs).unwrap();
    w.commit("ingested", &json!({"p": 1}), &Value::Null)
        .unwrap()
}

use apex_store::datasets::DatasetInfo;

#[test]
fn a_write_is_visible_only_once_committed_and_lands_in_hive_day_directories() {
    let (dir, store) = store();
    let mut w = DatasetWrite::begin(&store, "shop", WriteMode::Replace, WhenBusy::Refuse).unwrap();
    let mut mixed = records(0..50, 2);
    mixed.extend(records(50..80, 1));
    w.append_records(&mixed).unwrap();
    assert!(catalog::get(&store, "shop").unwrap().is_none());
    assert_eq!(count(&store, "shop"), 0);
    drop(w);
    assert!(catalog::get(&store, "shop").unwrap().is_none());
    let staging = dir.path().join("datasets/.staging");
    assert_eq!(
        std::fs::read_dir(&staging).unwrap().count(),
        0,
        "staging left behind"
    );

    let info = write(&store, "shop", WriteMode::Replace, &mixed);
    assert_eq!(info.record_count, 80);
    assert_eq!(info.first.as_deref(), Some("2026-01-01T00:12:00.000Z"));
    let parts = layout::list_parts(&dir.path().join("datasets/dataset=shop")).unwrap();
    let days: Vec<&str> = parts.iter().map(|p| p.day.as_str()).collect();
    assert_eq!(days, ["2026-01-01", "2026-01-02"]);
    assert_eq!(count(&store, "shop"), 80);
    let mut back = Vec::new();
    read::for_each_batch(&store, "shop", 7, |b| {
        back.extend_from_slice(b);
        Ok(())
    })
    .unwrap();
    let mut want = records(50..80, 1);
    want.extend(records(0..50, 2));
    assert_eq!(back, want, "every field round-trips through Parquet");
}

#[test]
fn parts_carry_time_statistics_for_pruning_and_store_ids_compactly() {
    use parquet::basic::{Compression, Encoding};
    use parquet::file::reader::{FileReader, SerializedFileReader};
    use parquet::file::statistics::Statistics;

    let (dir, store) = store();
    write(&store, "d", WriteMode::Replace, &records(0..300, 4));
    let parts = layout::list_parts(&dir.path().join("datasets/dataset=d")).unwrap();
    let file = std::fs::File::open(&parts[0].path).unwrap();
    let meta = SerializedFileReader::new(file).unwrap().metadata().clone();
    let group = meta.row_group(0);
    let column = |name: &str| {
        group
            .columns()
            .iter()
            .find(|c| c.column_path().string() == name)
            .unwrap_or_else(|| panic!("no column {name}"))
    };
    // The time range of the group: what a query's time filter prunes row groups by.
    let ms = |t: &str| schema::parse_timestamp_ms(t).unwrap();
    let times: Vec<i64> = records(0..300, 4)
        .iter()
        .map(|r| ms(&r.timestamp))
        .collect();
    match column("timestamp").statistics() {
        Some(Statistics::Int64(s)) => assert_eq!(
            (s.min_opt(), s.max_opt()),
            (times.iter().min(), times.iter().max())
        ),
        other => panic!("timestamp statistics: {other:?}"),
    }
    assert!(
        column("timestamp")
            .encodings()
            .any(|e| e == Encoding::DELTA_BINARY_PACKED)
    );
    // Random ids: Zstandard (a hex digit in ~4 bits); what the report reads: Snappy.
    assert_eq!(
        schema::ZSTD_COLUMNS,
        ["event_id", "trace_id", "span_id", "parent_span_id"]
    );
    for id in schema::ZSTD_COLUMNS {
        assert!(
            matches!(column(id).compression(), Compression::ZSTD(_)),
            "{id}"
        );
    }
    for read in ["prompt_hash", "model", "cost_usd"] {
        assert_eq!(column(read).compression(), Compression::SNAPPY, "{read}");
    }
    // Those 300 records span 00:00-23:59 of one day: a time filter still counts right.
    let engine = Engine::open(&store, None).unwrap();
    let b = engine
        .collect(
            "SELECT COUNT(*) FROM workload_records WHERE dataset = 'd' \
             AND timestamp >= TIMESTAMP '2026-01-04T12:00:00Z'",
        )
        .unwrap();
    let later = times
        .iter()
        .filter(|&&t| t >= ms("2026-01-04T12:00:00.000Z"))
        .count();
    assert_eq!(engine::json_rows(&b[0]).unwrap()[0][0], json!(later));
}

#[test]
fn append_adds_replace_replaces_and_old_parts_go() {
    let (dir, store) = store();
    write(&store, "d", WriteMode::Replace, &records(0..10, 1));
    let info = write(&store, "d", WriteMode::Append, &records(10..25, 3));
    assert_eq!(info.record_count, 25);
    assert_eq!(count(&store, "d"), 25);
    let before = layout::list_parts(&dir.path().join("datasets/dataset=d")).unwrap();
    assert_eq!(before.len(), 2);
    let info = write(&store, "d", WriteMode::Replace, &records(100..104, 5));
    assert_eq!((info.record_count, count(&store, "d")), (4, 4));
    let after = layout::list_parts(&dir.path().join("datasets/dataset=d")).unwrap();
    assert_eq!(after.len(), 1, "{after:?}");
    assert_eq!(after[0].day, "2026-01-05");
    assert!(
        !dir.path()
            .join("datasets/dataset=d/day=2026-01-01")
            .exists()
    );
}

#[test]
fn a_second_writer_is_refused_by_name_and_a_waiting_one_lands_after() {
    let (_dir, store) = store();
    let first = DatasetWrite::begin(&store, "busy", WriteMode::Append, WhenBusy::Refuse).unwrap();
    let e = DatasetWrite::begin(&store, "busy", WriteMode::Append, WhenBusy::Refuse).unwrap_err();
    let msg = e.to_string();
    assert!(
        msg.starts_with("dataset: `busy` is being written by another"),
        "{msg}"
    );
    // Another dataset is not held up.
    write(&store, "other", WriteMode::Replace, &records(0..3, 1));
    std::thread::scope(|s| {
        let waiter = s.spawn(|| {
            let mut w =
                DatasetWrite::begin(&store, "busy", WriteMode::Append, WhenBusy::Wait).unwrap();
            w.append_records(&records(10..12, 1)).unwrap();
            w.commit("ingested", &Value::Null, &Value::Null).unwrap()
        });
        let mut first = first;
        first.append_records(&records(0..5, 1)).unwrap();
        first
            .commit("ingested", &Value::Null, &Value::Null)
            .unwrap();
        waiter.join().unwrap();
    });
    assert_eq!(count(&store, "busy"), 7, "both appends landed");
}

#[test]
fn damaged_parts_are_named_and_skipped() {
    let (dir, store) = store();
    write(&store, "d", WriteMode::Replace, &records(0..10, 1));
    write(&store, "d", WriteMode::Append, &records(10..30, 2));
    write(&store, "d", WriteMode::Append, &records(30..35, 3));
    let parts = layout::list_parts(&dir.path().join("datasets/dataset=d")).unwrap();
    // Truncate one part, overwrite another with text.
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(&parts[1].path)
        .unwrap();
    f.set_len(parts[1].size / 2).unwrap();
    std::fs::write(&parts[2].path, "not parquet at all").unwrap();
    let engine = Engine::open(&store, None).unwrap();
    let w = engine.warnings().join("\n");
    assert!(w.contains(&parts[1].path.display().to_string()), "{w}");
    assert!(w.contains(&parts[2].path.display().to_string()), "{w}");
    assert!(w.contains("skipped"), "{w}");
    assert!(w.contains("the catalog records 35 records"), "{w}");
    let r = engine
        .query(
            "SELECT COUNT(*) FROM workload_records",
            QueryLimits {
                max_rows: 10,
                timeout: Duration::from_secs(10),
            },
        )
        .unwrap();
    assert_eq!(r.rows[0][0], json!(10), "only the sound part is read");
    assert_eq!(r.warnings.len(), 3);
}

#[test]
fn a_crashed_commit_leaves_the_dataset_as_it_was_and_the_next_writer_cleans_up() {
    let (dir, store) = store();
    write(&store, "d", WriteMode::Replace, &records(0..10, 1));
    // A commit killed after moving its parts in but before the catalog: simulate by copying
    // a part to a number past the committed range.
    let ds = dir.path().join("datasets/dataset=d");
    let parts = layout::list_parts(&ds).unwrap();
    let stray = ds.join("day=2026-01-09").join(layout::part_file_name(7));
    std::fs::create_dir_all(stray.parent().unwrap()).unwrap();
    std::fs::copy(&parts[0].path, &stray).unwrap();
    // And a staging directory of a dead writer.
    let dead = dir
        .path()
        .join("datasets/.staging/d.4294967294-00000000000000ff");
    std::fs::create_dir_all(&dead).unwrap();
    assert_eq!(count(&store, "d"), 10, "the stray part is not visible");
    let info = write(&store, "d", WriteMode::Append, &records(10..12, 2));
    assert_eq!((info.record_count, count(&store, "d")), (12, 12));
    assert!(!stray.exists(), "the next writer removed it");
    assert!(!dead.exists());
}

#[test]
fn client_sql_is_one_read_only_select_bounded_in_rows_and_time() {
    let (dir, store) = store();
    write(&store, "shop-1", WriteMode::Replace, &records(0..40, 1));
    let engine = Engine::open(&store, None).unwrap();
    let limits = QueryLimits {
        max_rows: 3,
        timeout: Duration::from_secs(10),
    };
    let r = engine
        .query(
            "SELECT model, COUNT(*) AS n FROM \"shop-1\" GROUP BY model ORDER BY model",
            limits,
        )
        .unwrap();
    assert_eq!(r.columns, ["model", "n"]);
    assert_eq!(
        r.rows,
        vec![
            vec![json!("gpt-4o"), json!(20)],
            vec![json!("gpt-4o-mini"), json!(20)]
        ]
    );
    assert!(!r.truncated);
    let r = engine
        .query(
            "SELECT event_id, timestamp FROM workload_records ORDER BY event_id",
            limits,
        )
        .unwrap();
    assert_eq!(r.rows.len(), 3);
    assert!(r.truncated);
    assert_eq!(r.rows[0][1], json!("2026-01-01T00:00:00.000Z"));
    let r = engine
        .query("SELECT name, record_count FROM datasets", limits)
        .unwrap();
    assert_eq!(r.rows, vec![vec![json!("shop-1"), json!(40)]]);
    for (bad, why) in [
        ("DELETE FROM workload_records", "only one read-only SELECT"),
        (
            "WITH x AS (SELECT 1) INSERT INTO datasets SELECT * FROM datasets",
            "modify",
        ),
        ("SELECT 1; SELECT 2", "more than one statement"),
        ("CREATE TABLE t AS SELECT 1", "only one read-only SELECT"),
        ("SELECT nope FROM workload_records", "nope"),
        // A table that is not there: the ones that are, and the dataset's own view.
        (
            "SELECT * FROM records",
            "`workload_records` (every dataset's records",
        ),
        (
            "SELECT * FROM records",
            "one view per dataset, named as it is: shop-1",
        ),
        ("", "empty"),
    ] {
        let e = engine.query(bad, limits).unwrap_err().to_string();
        assert!(e.starts_with("sql: ") && e.contains(why), "{bad}: {e}");
    }
    let slow = engine
        .query(
            "SELECT SUM(value) FROM generate_series(1, 100000000000)",
            QueryLimits {
                max_rows: 3,
                timeout: Duration::from_millis(300),
            },
        )
        .unwrap_err();
    assert!(matches!(slow, QueryError::Timeout(300)), "{slow}");
    // Nothing a query did wrote anything.
    assert_eq!(
        layout::list_parts(&dir.path().join("datasets/dataset=shop-1"))
            .unwrap()
            .len(),
        1
    );
}

#[test]
fn old_sqlite_datasets_convert_with_every_row_and_cent() {
    let (_dir, store) = store();
    let recs = records(0..1000, 1);
    catalog::insert_legacy(&store, "old", "synthetic", &recs).unwrap();
    // the old layout had no accounting columns: converted records are single clean calls
    let recs: Vec<WorkloadRecord> = recs.into_iter().map(clean).collect();
    let before = catalog::get(&store, "old").unwrap().unwrap();
    assert_eq!(migrate::pending(&store).unwrap(), ["old"]);
    let mut seen = Vec::new();
    let done =
        migrate::migrate_all(&store, &mut |n, at, of| seen.push((n.to_string(), at, of))).unwrap();
    assert_eq!(done.len(), 1);
    assert_eq!(done[0].records, 1000);
    assert_eq!(seen.last().unwrap(), &("old".to_string(), 1000, 1000));
    let after = catalog::get(&store, "old").unwrap().unwrap();
    assert_eq!(after.storage, catalog::STORAGE_PARQUET);
    assert_eq!(after.created_at, before.created_at);
    let want: f64 = recs.iter().map(|r| r.cost_usd).sum();
    assert!((after.spend_usd - want).abs() < 1e-9);
    assert_eq!(catalog::legacy_totals(&store, "old").unwrap().0, 0);
    assert!(migrate::pending(&store).unwrap().is_empty());
    let mut back = Vec::new();
    read::for_each_batch(&store, "old", 100, |b| {
        back.extend_from_slice(b);
        Ok(())
    })
    .unwrap();
    assert_eq!(back.len(), 1000);
    assert!(back.iter().all(|r| recs.contains(r)));
    // A second run finds nothing to do.
    assert!(
        migrate::migrate_all(&store, &mut |_, _, _| {})
            .unwrap()
            .is_empty()
    );
}

fn write_parquet(path: &std::path::Path, batch: &arrow::array::RecordBatch) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let file = std::fs::File::create(path).unwrap();
    let mut w = parquet::arrow::ArrowWriter::try_new(file, batch.schema(), None).unwrap();
    w.write(batch).unwrap();
    w.close().unwrap();
}

fn figures(store: &Store, sql: &str) -> Vec<Vec<Value>> {
    let engine = Engine::open(store, None).unwrap();
    let b = engine.collect(sql).unwrap();
    b.iter()
        .flat_map(|b| engine::json_rows(b).unwrap())
        .collect()
}

#[test]
fn attached_parquet_is_read_in_place_with_single_call_defaults_and_bad_files_named() {
    let (_dir, store) = store();
    write(&store, "own", WriteMode::Replace, &records(0..20, 1));
    let ext = tempfile::tempdir().unwrap();
    let out = ext.path().join("out");
    // A pipeline's file: the per-call columns only, two days in one file.
    let mut calls = records(100..130, 2);
    calls.extend(records(130..150, 3));
    let calls: Vec<_> = calls.into_iter().map(clean).collect();
    let per_call_columns: Vec<usize> = (0..schema::record_schema().fields().len()).collect();
    let per_call = schema::records_to_batch(&calls)
        .unwrap()
        .project(&per_call_columns)
        .unwrap();
    write_parquet(&out.join("run-1.parquet"), &per_call);
    // Our own layout (all columns, with accounting) in a day directory.
    let full = records(150..160, 4);
    write_parquet(
        &out.join("day=2026-01-04/part-00000.parquet"),
        &schema::records_to_batch(&full).unwrap(),
    );
    // What is not data, and what is broken.
    std::fs::write(out.join("_SUCCESS"), b"").unwrap();
    std::fs::create_dir_all(out.join("_temporary")).unwrap();
    std::fs::write(out.join("_temporary/x.parquet"), b"half").unwrap();
    std::fs::write(out.join("bad.parquet"), b"not parquet at all").unwrap();
    let model = per_call.schema().index_of("model").unwrap();
    let no_model: Vec<usize> = per_call_columns
        .iter()
        .copied()
        .filter(|&i| i != model)
        .collect();
    write_parquet(
        &out.join("no-model.parquet"),
        &per_call.project(&no_model).unwrap(),
    );

    let a = external::attach(&store, "pipeline", out.to_str().unwrap()).unwrap();
    assert_eq!(a.files, 2, "{a:?}");
    assert_eq!(a.skipped.len(), 2, "{a:?}");
    assert!(
        a.skipped
            .iter()
            .any(|s| s.contains("bad.parquet") && s.contains("not a readable Parquet file")),
        "{a:?}"
    );
    assert!(
        a.skipped
            .iter()
            .any(|s| s.contains("no-model.parquet") && s.contains("no column `model`")),
        "{a:?}"
    );
    assert_eq!(a.info.storage, catalog::STORAGE_EXTERNAL);
    assert_eq!(a.info.record_count, 60);
    let spend: f64 = calls.iter().chain(&full).map(|r| r.cost_usd).sum();
    assert!((a.info.spend_usd - spend).abs() < 1e-9, "{a:?}");
    assert_eq!(a.info.first.as_deref(), Some("2026-01-02T00:00:00.000Z"));

    // Days come from the timestamps; the missing accounting is one clean call per record.
    let days = figures(
        &store,
        "SELECT day, COUNT(*), SUM(weight), SUM(CASE WHEN aggregated THEN 1 ELSE 0 END), \
         COUNT(quality_flags) FROM workload_records WHERE dataset = 'pipeline' GROUP BY day ORDER BY day",
    );
    let full_weight: i64 = full.iter().map(|r| r.weight as i64).sum();
    let full_aggregated = full.iter().filter(|r| r.aggregated).count() as i64;
    let full_flagged = full.iter().filter(|r| r.quality_flags.is_some()).count() as i64;
    assert_eq!(
        days,
        vec![
            vec![
                json!("2026-01-02"),
                json!(30),
                json!(30),
                json!(0),
                json!(0)
            ],
            vec![
                json!("2026-01-03"),
                json!(20),
                json!(20),
                json!(0),
                json!(0)
            ],
            vec![
                json!("2026-01-04"),
                json!(10),
                json!(full_weight),
                json!(full_aggregated),
                json!(full_flagged)
            ],
        ]
    );
    // An analysis session reads the same, its text as views whatever the files hold (the
    // missing `quality_flags` a NULL view), beside our own parts.
    let analysis = Engine::open_for_analysis(&store, &["own", "pipeline"]).unwrap();
    let rows = |engine: &Engine, sql: &str| -> Vec<Vec<Value>> {
        let b = engine.collect(sql).unwrap();
        b.iter()
            .flat_map(|b| engine::json_rows(b).unwrap())
            .collect()
    };
    let by_day = "SELECT day, COUNT(*), SUM(weight), SUM(CASE WHEN aggregated THEN 1 ELSE 0 END), \
         COUNT(quality_flags) FROM workload_records WHERE dataset = 'pipeline' GROUP BY day ORDER BY day";
    assert_eq!(rows(&analysis, by_day), days);
    assert_eq!(
        rows(
            &analysis,
            "SELECT dataset, arrow_typeof(MIN(provider)), arrow_typeof(MIN(quality_flags)), \
             arrow_typeof(MIN(span_id)), COUNT(*) FROM workload_records GROUP BY dataset ORDER BY dataset"
        ),
        vec![
            vec![
                json!("own"),
                json!("Utf8View"),
                json!("Utf8View"),
                json!("Utf8"),
                json!(20)
            ],
            vec![
                json!("pipeline"),
                json!("Utf8View"),
                json!("Utf8View"),
                json!("Utf8"),
                json!(60)
            ],
        ]
    );
    drop(analysis);
    // Our own datasets read as before, beside it; the dataset's own view works.
    assert_eq!(count(&store, "own"), 20);
    assert_eq!(
        figures(&store, "SELECT COUNT(*) FROM pipeline"),
        vec![vec![json!(60)]]
    );
    let snapshot = snapshot::Snapshot::take(&store, None).unwrap();
    assert!(
        snapshot
            .warnings
            .iter()
            .any(|w| w.contains("pipeline") && w.contains("bad.parquet")),
        "{:?}",
        snapshot.warnings
    );

    // A pipeline's new file counts at the next read, without attaching again.
    write_parquet(&out.join("run-2.parquet"), &per_call.slice(0, 5));
    assert_eq!(count(&store, "pipeline"), 65);

    // Never written, never deleted by us.
    let refused = DatasetWrite::begin(&store, "pipeline", WriteMode::Append, WhenBusy::Refuse)
        .err()
        .map(|e| e.to_string())
        .expect("a write to an attached dataset is refused");
    assert!(
        refused.contains("attached from") && refused.contains("read-only"),
        "{refused}"
    );
    let again = external::attach(&store, "pipeline", out.to_str().unwrap())
        .err()
        .map(|e| e.to_string())
        .expect("the name is taken");
    assert!(again.contains("already exists"), "{again}");
    let detached = write::delete(&store, "pipeline").unwrap().unwrap();
    assert!(detached.location().is_some());
    assert!(out.join("run-1.parquet").exists());
    assert!(catalog::get(&store, "pipeline").unwrap().is_none());
}

#[test]
fn attach_names_what_it_cannot_read() {
    let (_dir, store) = store();
    let missing = external::attach(&store, "x", "/no/such/dir")
        .err()
        .unwrap()
        .to_string();
    assert!(
        missing.contains("/no/such/dir") && missing.contains("existing directory"),
        "{missing}"
    );
    let empty = tempfile::tempdir().unwrap();
    let none = external::attach(&store, "x", empty.path().to_str().unwrap())
        .err()
        .unwrap()
        .to_string();
    assert!(none.contains("no .parquet file"), "{none}");
    let foreign = external::attach(&store, "x", "ftp://host/logs/")
        .err()
        .unwrap()
        .to_string();
    assert!(
        foreign.contains("ftp://host/logs/") && foreign.contains("s3://"),
        "{foreign}"
    );
    let bad_name = external::attach(&store, ".x", empty.path().to_str().unwrap())
        .err()
        .unwrap()
        .to_string();
    assert!(bad_name.contains("not accepted"), "{bad_name}");
    // A file URL is a path.
    let f = empty.path().join("calls.parquet");
    write_parquet(&f, &schema::records_to_batch(&records(0..3, 5)).unwrap());
    let a = external::attach(&store, "one", &format!("file://{}", f.display())).unwrap();
    assert_eq!((a.files, a.info.record_count), (1, 3));
}

/// The analyses' sessions read the repeating text columns as views, the ids and client
/// sessions as copied strings; both read the same values.
#[test]
fn analysis_sessions_read_repeating_text_as_views_and_clients_as_strings() {
    let (_d, store) = store();
    write(&store, "d", WriteMode::Replace, &records(0..50, 3));
    let sql = "SELECT arrow_typeof(MIN(provider)), arrow_typeof(MIN(prompt_hash)), \
               COUNT(DISTINCT provider || model), MIN(model) FROM workload_records";
    let row = |engine: Engine| {
        let b = engine.collect(sql).unwrap();
        engine::json_rows(&b[0]).unwrap().remove(0)
    };
    let views = row(Engine::open_for_analysis(&store, &["d"]).unwrap());
    let copied = row(Engine::open(&store, None).unwrap());
    assert_eq!(
        (views[0].as_str(), views[1].as_str()),
        (Some("Utf8View"), Some("Utf8"))
    );
    assert_eq!(
        (copied[0].as_str(), copied[1].as_str()),
        (Some("Utf8"), Some("Utf8"))
    );
    assert_eq!(views[2..], copied[2..]);
}
