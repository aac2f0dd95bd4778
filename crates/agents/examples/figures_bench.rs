//! Where a report's time goes: each figure query of `collect` timed alone, then all of them
//! at once as a report runs them, over one dataset of a workspace; q2-q4 also as a report
//! counts them, from one stream of the calls (`analysis::stream`).
//! Usage: figures_bench ROOT DATASET [--only N,N] [--sql QUERY] [--report]  (`{calls}` in
//! QUERY: the CTE; `--report`: only the figures as a report gathers them, three times)

use std::time::Instant;

use apex_agents::analysis::collect::{collect, queries};
use apex_agents::analysis::duplicates::BUDGET;
use apex_agents::analysis::sql::Scope;
use apex_core::workspace::Workspace;
use apex_store::Store;

type Result<T> = std::result::Result<T, Box<dyn std::error::Error + Send + Sync>>;

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let (Some(root), Some(dataset)) = (args.get(1), args.get(2)) else {
        return Err("usage: figures_bench ROOT DATASET [--only N,N]".into());
    };
    let only: Option<Vec<usize>> = args
        .iter()
        .position(|a| a == "--only")
        .and_then(|i| args.get(i + 1))
        .map(|s| s.split(',').filter_map(|n| n.parse().ok()).collect());
    let ws = Workspace::open(std::path::Path::new(root), None)?;
    let store = Store::open(&ws.db_path())?;
    let engine = apex_agents::open_engine(&store, &[dataset.as_str()])?;
    if args.iter().any(|a| a == "--report") {
        // The figures as a report gathers them, three times.
        let root = apex_datasets::root_of(&store);
        let cancel = tokio_util::sync::CancellationToken::new();
        for _ in 0..3 {
            let t = Instant::now();
            collect(&engine, dataset, Some(&root), (0, 0.0), &cancel)?;
            println!("report's figures: {:.3} s", t.elapsed().as_secs_f64());
        }
        return Ok(());
    }
    let sqls = queries(
        Scope {
            dataset,
            rollups: false,
        },
        true,
    );
    if let Some(q) = args
        .iter()
        .position(|a| a == "--sql")
        .and_then(|i| args.get(i + 1))
    {
        let cte = Scope {
            dataset,
            rollups: false,
        }
        .cte();
        let t = Instant::now();
        let batches = engine.collect(&q.replace("{calls}", &cte))?;
        let rows: usize = batches.iter().map(|b| b.num_rows()).sum();
        println!("{:.3} s, {rows} rows", t.elapsed().as_secs_f64());
        for b in batches.iter().take(1) {
            for row in apex_datasets::engine::json_rows(b)?.iter().take(20) {
                for cell in row {
                    println!(
                        "{}",
                        cell.as_str()
                            .map_or_else(|| cell.to_string(), str::to_string)
                    );
                }
            }
        }
        return Ok(());
    }
    let mut alone = 0.0;
    for (i, sql) in sqls.iter().enumerate() {
        if only.as_ref().is_some_and(|o| !o.contains(&i)) {
            continue;
        }
        let t = Instant::now();
        let batches = engine.collect(sql)?;
        let rows: usize = batches.iter().map(|b| b.num_rows()).sum();
        let s = t.elapsed().as_secs_f64();
        alone += s;
        println!(
            "q{i:<2} {s:7.3} s  {rows:>8} rows  {}",
            &sql[sql.len().saturating_sub(110)..]
        );
    }
    println!("one after another: {alone:.3} s");
    let scope = Scope {
        dataset,
        rollups: false,
    };
    let root = apex_datasets::root_of(&store);
    if only.as_ref().is_none_or(|o| o.contains(&4)) {
        let t = Instant::now();
        let streamed =
            apex_agents::analysis::stream::count(&engine, scope, Some((&root, BUDGET)), None)?;
        println!(
            "q2-q4 from the calls' stream (as a report counts them): {:.3} s, {} repeated",
            t.elapsed().as_secs_f64(),
            streamed.duplicates.map_or(0, |d| d.len())
        );
    }
    if only.is_none() {
        let t = Instant::now();
        engine.collect_all(&sqls, None)?;
        println!(
            "all at once, q4 by the engine: {:.3} s",
            t.elapsed().as_secs_f64()
        );
        let t = Instant::now();
        let cancel = tokio_util::sync::CancellationToken::new();
        collect(&engine, dataset, Some(&root), (0, 0.0), &cancel)?;
        println!(
            "as a report runs them (q4 in partitions): {:.3} s",
            t.elapsed().as_secs_f64()
        );
    }
    Ok(())
}
